#!/usr/bin/env bash
# Smoke-test the Linux package on this machine, as root (Debian or Ubuntu):
#
#   packaging/smoke-test-linux.sh [--python PY] [--screenshot FILE.png] [DEB]
#
# 1. installs DEB (default: the newest dist/chatroom_*.deb) with apt-get, which
#    installs the libraries its Depends line names;
# 2. checks that `chatroom --version` prints the package's version;
# 3. has a one-turn conversation with the installed app, as a person would:
#    the real window on Xvfb, talking to tests/fake_openrouter, which demands
#    an API key that only the system keyring (a real gnome-keyring on a
#    private D-Bus) holds. xdotool types a prompt and presses Ctrl+Enter; the
#    reply must stream back and be saved, which `chatroom list` and
#    `chatroom export` then read; SIGTERM must close the window with status 0;
# 4. purges the package and checks that /opt/chatroom, /usr/bin/chatroom and
#    the desktop files are gone.
# PY (default build/venv/bin/python) runs the fake server from this checkout
# and stores the key; it needs the `keyring` package.
set -euo pipefail
# With pipefail, `producer | head` fails at random: head exits after its lines
# and the producer dies of SIGPIPE (exit 141) if it was still writing. Take
# the first lines with `sed -n 1p` / `sed -n 1,10p`, which read to the end.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

PROMPT="Hello from the smoke test"

say() { printf '== %s\n' "$*"; }
die() { echo "$0: FAILED: $*" >&2; exit 1; }

# -- inside Xvfb and a keyring session: one turn with the installed app --------

wait_for_line() {  # FILE SECONDS: the first line of FILE once it has one
  local _ line
  for _ in $(seq $(($2 * 10))); do
    [ -s "$1" ] && line="$(sed -n 1p "$1")" && [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

saved_reply_done() {  # ROOM_JSON: exit 0 when the room holds the prompt and a finished echo
  "$SMOKE_PYTHON" - "$1" "$PROMPT" <<'EOF'
import json, sys
room = json.load(open(sys.argv[1], encoding="utf-8"))
turn = room["turns"][0]
reply = turn["replies"][0]
sys.exit(0 if turn["prompt"] == sys.argv[2] and reply["state"] == "done"
         and reply["text"].split() == sys.argv[2].split() else 1)
EOF
}

one_turn() {
  local work="$SMOKE_WORK" key url wid room status _
  export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" \
    XDG_CACHE_HOME="$work/cache" XDG_STATE_HOME="$work/state"
  unset OPENROUTER_API_KEY QT_QPA_PLATFORM
  key="sk-smoke-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
  "$SMOKE_PYTHON" -m tests.fake_openrouter --port 0 --api-key "$key" >"$work/server.log" 2>&1 &
  SERVER_PID=$!
  trap 'kill ${SERVER_PID:-} ${APP_PID:-} 2>/dev/null || true' EXIT
  url="$(wait_for_line "$work/server.log" 20)" || die "the fake server did not start: $(cat "$work/server.log")"
  # Where the Settings dialog puts a key: the app can send only if its frozen
  # keyring found the Secret Service backend.
  "$SMOKE_PYTHON" -c 'import keyring, sys; keyring.set_password("chatroom", "openrouter", sys.argv[1])' "$key"

  say "window on Xvfb ($DISPLAY), fake server at $url"
  chatroom --base-url "$url" --model fake/echo >"$work/app.log" 2>&1 &
  APP_PID=$!
  wid="$(timeout 60 xdotool search --sync --onlyvisible --name '^Chatroom' | sed -n 1p)" \
    || die "no Chatroom window within 60 s; the app said: $(cat "$work/app.log")"
  xdotool windowfocus --sync "$wid"
  xdotool type --delay 20 "$PROMPT"
  xdotool key ctrl+Return

  say "waiting for the reply to stream and be saved"
  for _ in $(seq 300); do
    room="$(chatroom list | sed -n 1p | cut -f1)"
    if [ -n "$room" ] && chatroom export "$room" --format json -o "$work/room.json" 2>/dev/null \
      && saved_reply_done "$work/room.json"; then
      break
    fi
    kill -0 "$APP_PID" 2>/dev/null || die "the app ended early; it said: $(cat "$work/app.log")"
    sleep 0.2
  done
  saved_reply_done "$work/room.json" \
    || die "no finished reply saved within 60 s: $(cat "$work/room.json" 2>/dev/null) $(cat "$work/app.log")"
  if [ -n "${SMOKE_SCREENSHOT:-}" ]; then
    sleep 0.5  # the last repaint
    import -window root "$SMOKE_SCREENSHOT"
    say "screenshot: $SMOKE_SCREENSHOT"
  fi

  say "closing the window with SIGTERM"
  kill -TERM "$APP_PID"
  status=0
  wait "$APP_PID" || status=$?
  APP_PID=""
  [ "$status" -eq 0 ] || die "the app exited with status $status: $(cat "$work/app.log")"
  chatroom export "$room" --format md -o "$work/room.md"
  grep -qF "$PROMPT" "$work/room.md" || die "the Markdown export lacks the prompt"
  say "one turn OK: room $room"
}

if [ "${1:-}" = "--inside" ]; then
  one_turn
  exit 0
fi

# -- outside: install, run, remove -------------------------------------------

PYTHON_FOR_TESTS="build/venv/bin/python"
SCREENSHOT=""
DEB=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) PYTHON_FOR_TESTS="$2"; shift 2 ;;
    --screenshot) SCREENSHOT="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; exit 2 ;;
    *) DEB="$1"; shift ;;
  esac
done
[ -n "$DEB" ] || DEB="$(ls -t dist/chatroom_*.deb 2>/dev/null | sed -n 1p)"
[ -f "$DEB" ] || die "no .deb given and none in dist/: run packaging/build-linux.sh first"
[ "$(id -u)" -eq 0 ] || die "run as root: it installs and removes a package"
"$PYTHON_FOR_TESTS" -c 'import keyring' || die "$PYTHON_FOR_TESTS cannot import keyring (see --python)"

tools=(xvfb xauth xdotool gnome-keyring dbus-x11)
[ -n "$SCREENSHOT" ] && tools+=(imagemagick)
missing=()
for pkg in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  say "installing test tools: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VERSION="$(dpkg-deb -f "$DEB" Version)"
installed=0
cleanup() { [ "$installed" -eq 0 ] || dpkg -P chatroom >/dev/null 2>&1 || true; rm -rf "${WORK:-}"; }
trap cleanup EXIT
WORK="$(mktemp -d "${TMPDIR:-/tmp}/chatroom-smoke.XXXXXX")"

say "installing $DEB"
installed=1
if ! apt-get install -y -qq --no-install-recommends "$(realpath "$DEB")" >"$WORK/apt.log" 2>&1; then
  # The package lists may be stale or missing on a fresh machine.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$(realpath "$DEB")" >"$WORK/apt.log" 2>&1 \
    || die "apt-get could not install $DEB: $(tail -n 20 "$WORK/apt.log")"
fi
[ "$(readlink -f /usr/bin/chatroom)" = /opt/chatroom/chatroom ] || die "/usr/bin/chatroom does not lead to /opt/chatroom"

printed="$(chatroom --version)"
[ "$printed" = "chatroom $VERSION" ] || die "chatroom --version printed '$printed', not 'chatroom $VERSION'"
say "chatroom --version: $printed"

SMOKE_PYTHON="$(realpath -s "$PYTHON_FOR_TESTS")" SMOKE_WORK="$WORK" \
  SMOKE_SCREENSHOT="${SCREENSHOT:+$(realpath -m "$SCREENSHOT")}" \
  bash tests/keyring_session.sh \
  xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" bash "$0" --inside

say "purging the package"
dpkg -L chatroom >"$WORK/files"
dpkg -P chatroom >"$WORK/purge.log" 2>&1 || die "dpkg -P failed: $(cat "$WORK/purge.log")"
installed=0
dpkg-query -W chatroom >/dev/null 2>&1 && die "dpkg still knows the package after purge"
# Every file and link the package had is gone (shared folders like
# /usr/share/applications stay), and so is everything under /opt/chatroom.
while IFS= read -r path; do
  [ -d "$path" ] && [ ! -L "$path" ] && continue
  [ ! -e "$path" ] && [ ! -L "$path" ] || die "$path is left after purge"
done <"$WORK/files"
for path in /opt/chatroom /usr/bin/chatroom /usr/share/doc/chatroom; do
  [ ! -e "$path" ] && [ ! -L "$path" ] || die "$path is left after purge"
done
say "smoke test passed: chatroom $VERSION installs, starts, streams a reply, saves it and uninstalls"
