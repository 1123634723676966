#!/usr/bin/env bash
# Build Chatroom.app and dist/Chatroom-<version>-macos-<arch>.dmg on macOS:
#
#   packaging/macos/build-dmg.sh [--venv DIR]
#
# Needs Python 3.11 or newer as python3 (or $PYTHON) and Xcode's command line
# tools (codesign, hdiutil). The build venv (default build/venv) gets the
# project's `packaging` extra. The .app comes from packaging/chatroom.spec
# (PyInstaller's BUNDLE: Info.plist with the bundle id from the AppStream
# metadata, the version from chatroom/__init__.py, the icon .icns that
# packaging/make_icons.py writes with Pillow).
#
# Signing and notarisation, for a .dmg that opens without Gatekeeper's
# warning (both need an Apple Developer account):
#   CHATROOM_CODESIGN_IDENTITY="Developer ID Application: Name (TEAMID)"
#       PyInstaller signs every binary and the .app with it, with the
#       hardened runtime and packaging/macos/entitlements.plist; this script
#       then signs the .dmg. Unset, everything is signed ad hoc, which runs
#       on the building Mac and, after right-click > Open, on others.
#   CHATROOM_NOTARY_PROFILE=name
#       a keychain profile made once with `xcrun notarytool store-credentials
#       name --apple-id ... --team-id ...`; the .dmg is sent to Apple's
#       notary service (`xcrun notarytool submit --wait`, a few minutes) and
#       the ticket stapled to it (`xcrun stapler staple`).
# Not run in this project's CI (no Mac there); .github/workflows/release.yml
# runs it on macos-latest. See docs/releasing.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="build/venv"
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "$0: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(uname -s)" = Darwin ] || { echo "$0: runs on macOS only" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
"$VENV/bin/python" -m pip install -q -e ".[packaging]"
VERSION="$("$VENV/bin/python" -c 'import chatroom; print(chatroom.__version__)')"

"$VENV/bin/python" packaging/make_icons.py build/icons
rm -rf dist/chatroom dist/Chatroom.app
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/chatroom.spec

APP="dist/Chatroom.app"
printed="$("$APP/Contents/MacOS/chatroom" --version)"
[ "$printed" = "chatroom $VERSION" ] || { echo "$0: the app prints '$printed'" >&2; exit 1; }
codesign --verify --deep --strict "$APP"

# The disk image: the app and a link to /Applications to drag it onto.
DMG="dist/Chatroom-$VERSION-macos-$(uname -m).dmg"
STAGE="build/dmg"
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Chatroom $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"

if [ -n "${CHATROOM_CODESIGN_IDENTITY:-}" ]; then
  codesign --sign "$CHATROOM_CODESIGN_IDENTITY" --timestamp "$DMG"
fi
if [ -n "${CHATROOM_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$CHATROOM_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi
du -h "$DMG"
