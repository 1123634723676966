#!/usr/bin/env bash
# Install what Chatroom needs (first run) and start it, or run its tests.
#   ./run.sh [chatroom arguments]   install if needed, then start the app
#   ./run.sh test [pytest args]     install if needed, then run every check and test
# Needs Python >= 3.11. As root on Debian/Ubuntu it installs the system
# libraries Qt needs (and, for tests, Xvfb, gnome-keyring and D-Bus) with apt-get.
set -euo pipefail
cd "$(dirname "$0")"

QT_RUNTIME_PACKAGES="libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
  libxkbcommon0 libx11-6 libxcb1 libgssapi-krb5-2 fonts-dejavu-core libxkbcommon-x11-0
  libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1"
TEST_PACKAGES="xvfb xauth gnome-keyring dbus-x11"
VENV="${CHATROOM_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

install_debian_packages() {
  # Only what is missing, and only where we may: root on a Debian-like system.
  command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || return 0
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}" >&2
    return 0
  fi
  echo "Installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_project() {
  local extras="$1" stamp="$VENV/.installed$1"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q -e ".$extras"
    touch "$stamp"
  fi
}

if [ "${1:-}" = "test" ]; then
  shift
  # shellcheck disable=SC2086  # word splitting of the package lists is intended
  install_debian_packages $QT_RUNTIME_PACKAGES $TEST_PACKAGES
  install_python_project "[test]"
  export QT_QPA_PLATFORM=offscreen
  "$VENV/bin/lint-imports"
  "$VENV/bin/python" -m mypy
  exec bash tests/keyring_session.sh "$VENV/bin/python" -m pytest "$@"
fi

# shellcheck disable=SC2086
install_debian_packages $QT_RUNTIME_PACKAGES
install_python_project ""
exec "$VENV/bin/chatroom" "$@"
