#!/usr/bin/env bash
# Run a command with a real, unlocked Secret Service (gnome-keyring) on a
# private D-Bus session bus, e.g.:
#
#   bash tests/keyring_session.sh python -m pytest tests/core/test_secrets.py
#
# Needs the Debian packages gnome-keyring and dbus-x11 (which brings
# dbus-run-session and dbus-send).
#
# The keyring daemon keeps its files in a fresh temporary directory, removed
# afterwards, so a run never touches the user's own keyrings, works when
# ~/.local/share/keyrings does not exist, and cannot trip over a login keyring
# left behind with another password. Only the daemon sees that directory: the
# command keeps the caller's XDG_DATA_HOME.
set -euo pipefail

if [[ "${1:-}" == "--inside-session" ]]; then
    # Second stage, on the private bus that dbus-run-session started.
    shift
    # With a password on stdin, --unlock creates the "login" collection on
    # first use and unlocks it; the daemon forks and prints VAR=value lines
    # (GNOME_KEYRING_CONTROL) that clients may need.
    daemon_env="$(printf 'chatroom-test' \
        | XDG_DATA_HOME="$CHATROOM_KEYRING_DIR" gnome-keyring-daemon --unlock --components=secrets)"
    while IFS= read -r line; do
        if [[ "$line" == [A-Za-z_]*=* ]]; then
            export "${line?}"
        fi
    done <<<"$daemon_env"
    unset CHATROOM_KEYRING_DIR
    # The daemon forks and prints before it owns its bus name. Waiting for
    # the name avoids two races: a client that finds no Secret Service (or
    # D-Bus activating a second, locked daemon), and a daemon that misses
    # the end of a bus that closed before it registered and lingers.
    for _ in $(seq 100); do
        # Captured rather than piped to grep -q, which could SIGPIPE dbus-send
        # and fail the pipeline under pipefail.
        reply="$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null || true)"
        if [[ "$reply" == *"boolean true"* ]]; then
            exec "$@"
        fi
        sleep 0.1
    done
    echo "$0: gnome-keyring-daemon did not register org.freedesktop.secrets within 10 s" >&2
    exit 1
fi

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi
for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
    if ! command -v "$tool" >/dev/null; then
        echo "$0: $tool not found; install the Debian packages gnome-keyring and dbus-x11" >&2
        exit 127
    fi
done

keyring_dir="$(mktemp -d "${TMPDIR:-/tmp}/chatroom-keyring.XXXXXX")"
trap 'rm -rf -- "$keyring_dir"' EXIT
# dbus-run-session ends the bus when the command exits, and gnome-keyring-daemon
# exits with its bus, so nothing is left running. Not exec'd, so the trap runs.
status=0
CHATROOM_KEYRING_DIR="$keyring_dir" dbus-run-session -- bash "$0" --inside-session "$@" || status=$?
exit "$status"
