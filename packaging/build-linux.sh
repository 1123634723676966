#!/usr/bin/env bash
# Build Chatroom's Linux installers from this checkout:
#   dist/chatroom/                                   the PyInstaller bundle (onedir)
#   dist/chatroom-<version>-linux-<arch>.tar.gz      that bundle, to unpack anywhere
#   dist/chatroom_<version>_<debarch>.deb            installs to /opt/chatroom
#
#   packaging/build-linux.sh [--venv DIR] [--lintian]
#
# The build runs in its own venv (default build/venv, created with $PYTHON or
# python3 and the project's `packaging` extra), so a test venv stays as it is.
# Needs binutils (PyInstaller's objdump and strip) and dpkg-deb; as root on
# Debian it installs them with apt-get. --lintian checks the .deb with lintian
# (installed if missing) and fails on its errors and warnings; the accepted
# ones are in packaging/linux/lintian-overrides. Prints a size table at the end.
set -euo pipefail
# With pipefail, `producer | head` fails at random: head exits after its lines
# and the producer dies of SIGPIPE (exit 141) if it was still writing. Take
# the first lines with `sed -n 1p` / `sed -n 1,10p`, which read to the end.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT="$PWD"

VENV="build/venv"
LINTIAN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --lintian) LINTIAN=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "$0: unknown argument $1" >&2; exit 2 ;;
  esac
done
PYTHON="${PYTHON:-python3}"
BUNDLE="dist/chatroom"
STAGE="build/deb"

say() { printf '\n== %s\n' "$*"; }
die() { echo "$0: $*" >&2; exit 1; }

# binutils: PyInstaller's objdump and strip; file: finding the ELF files. The
# libraries are those the bundle links to (run.sh's Qt list and a few more),
# so that on a fresh machine ldd finds each and dpkg -S can name its package;
# one missing here fails the build with its name.
BUILD_PACKAGES="binutils file dpkg xz-utils"
BUNDLE_LIBRARY_PACKAGES="libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
  libxkbcommon0 libx11-6 libxcb1 libgssapi-krb5-2 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0
  libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0
  libxcb-xfixes0 libxcb-xkb1 libxcb-glx0 libwayland-client0 libwayland-cursor0"

install_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || die "install these first: ${missing[*]}"
  echo "Installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

prepare_venv() {
  local stamp="$VENV/.installed-packaging"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q -e ".[packaging]"
    touch "$stamp"
  fi
}

app_version() {
  "$VENV/bin/python" -c 'import ast, sys
tree = ast.parse(open("chatroom/__init__.py", encoding="utf-8").read())
print(next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
           and any(getattr(t, "id", None) == "__version__" for t in n.targets)))'
}

# Every ELF file of the bundle, one per line.
bundle_elf_files() {
  find "$BUNDLE" -type f -print0 | xargs -0 file -N -F $'\t' | awk -F $'\t' '$2 ~ /ELF/ {print $1}'
}

# The system libraries the bundle's files link to directly, one path a line;
# fails, naming them, if a library is found neither in the bundle nor here.
system_libraries() {
  local lib_path="$ROOT/$BUNDLE/_internal:$ROOT/$BUNDLE/_internal/PySide6/Qt/lib"
  local file needed resolved path missing=()
  declare -A wanted=()
  while IFS= read -r file; do
    # ldd's answer as NAME<TAB>PATH lines; PATH is "not" when not found.
    resolved="$(LD_LIBRARY_PATH="$lib_path" ldd "$file" 2>/dev/null | awk '
      $2 == "=>" {print $1 "\t" $3; next}
      $1 ~ /^\// {name = $1; sub(/.*\//, "", name); print name "\t" $1}')"
    for needed in $(objdump -p "$file" | awk '$1 == "NEEDED" {print $2}'); do
      path="$(awk -F '\t' -v name="$needed" '$1 == name {print $2; exit}' <<<"$resolved")"
      case "$path" in
        ""|not) missing+=("$needed (for ${file#"$BUNDLE"/})") ;;
        "$ROOT/$BUNDLE/"*) ;;  # bundled
        *) wanted["$path"]=1 ;;
      esac
    done
  done < <(bundle_elf_files)
  if [ ${#missing[@]} -gt 0 ]; then
    printf '%s\n' "${missing[@]}" | sort -u >&2
    die "the libraries above are neither bundled nor installed here"
  fi
  printf '%s\n' "${!wanted[@]}" | sort
}

# The Debian package that holds a library path (usrmerge: try both spellings).
package_of() {
  local path="$1" alt owner
  case "$path" in /usr/*) alt="${path#/usr}" ;; *) alt="/usr$path" ;; esac
  for candidate in "$path" "$alt" "$(readlink -f "$path")"; do
    owner="$(dpkg -S "$candidate" 2>/dev/null | sed -n 1p | cut -d: -f1)" && [ -n "$owner" ] && {
      echo "$owner"
      return 0
    }
  done
  die "no Debian package holds $path"
}

# The Depends line: the packages of the linked system libraries, libc6 with
# the newest glibc symbol version used, plus what Qt opens at run time.
debian_depends() {
  local glibc packages
  glibc="$(bundle_elf_files | xargs objdump -T 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
  packages="$(system_libraries | while IFS= read -r lib; do package_of "$lib"; done | sort -u)"
  # Qt opens libdbus-1 with dlopen (accessibility, input methods, portals)
  # and needs a font, which libfontconfig1 brings through fontconfig-config.
  packages="$(printf '%s\nlibdbus-1-3\n' "$packages" | grep -v '^libc6$' | sort -u)"
  printf 'libc6 (>= %s)' "$glibc"
  # shellcheck disable=SC2086  # one package name per word
  printf ', %s' $packages
  echo
}

build_bundle() {
  say "PyInstaller"
  # Linux needs no .ico or .icns; writing them here keeps the script checked.
  "$VENV/bin/python" packaging/make_icons.py build/icons
  rm -rf "$BUNDLE"
  "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/chatroom.spec
  local printed
  printed="$("$BUNDLE/chatroom" --version)"
  [ "$printed" = "chatroom $VERSION" ] || die "the bundle prints '$printed', not 'chatroom $VERSION'"
  # Modules found by name at run time, which PyInstaller's hooks must have
  # collected: keyring's Secret Service backend (through the entry points in
  # keyring's metadata) and the Pygments lexers, formatter and styles of
  # ui/render.py. The smoke test proves the keyring part end to end.
  # The spec sets noarchive: modules are .pyc files under _internal/.
  local module path
  for module in keyring.backends.SecretService secretstorage jeepney.io.blocking \
    pygments.lexers.python pygments.lexers.rust pygments.formatters.html \
    pygments.styles.default pygments.styles.gh_dark; do
    path="$BUNDLE/_internal/${module//.//}"
    [ -f "$path.pyc" ] || [ -f "$path/__init__.pyc" ] || die "the bundle lacks the module $module"
  done
  compgen -G "$BUNDLE/_internal/keyring-*.dist-info/entry_points.txt" >/dev/null \
    || die "the bundle lacks keyring's entry points (its backends would not be found)"
}

build_tarball() {
  say "tar.gz"
  TARBALL="dist/chatroom-$VERSION-linux-$(uname -m).tar.gz"
  tar -C dist --owner=0 --group=0 --transform "s,^chatroom,chatroom-$VERSION," \
    -czf "$TARBALL" chatroom
  # Unpacked elsewhere, it still runs: nothing points back into dist/.
  local unpacked printed
  unpacked="$(mktemp -d)"
  tar -C "$unpacked" -xzf "$TARBALL"
  printed="$("$unpacked/chatroom-$VERSION/chatroom" --version)"
  rm -rf "$unpacked"
  [ "$printed" = "chatroom $VERSION" ] || die "the unpacked .tar.gz prints '$printed'"
}

metainfo_id() {
  sed -n 's:.*<id>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</id>.*:\1:p' resources/chatroom.metainfo.xml | sed -n 1p
}

stage_deb_files() {
  local root="$1" size
  install -d "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
    "$root/usr/share/metainfo" "$root/usr/share/doc/chatroom" "$root/usr/share/icons/hicolor/scalable/apps"
  cp -a "$BUNDLE" "$root/opt/chatroom"
  ln -s /opt/chatroom/chatroom "$root/usr/bin/chatroom"
  install -m 644 resources/chatroom.desktop "$root/usr/share/applications/chatroom.desktop"
  install -m 644 resources/chatroom.metainfo.xml "$root/usr/share/metainfo/$(metainfo_id).metainfo.xml"
  install -m 644 resources/chatroom.svg "$root/usr/share/icons/hicolor/scalable/apps/chatroom.svg"
  for png in resources/icons/chatroom-*.png; do
    size="$(basename "$png" .png)"
    size="${size#chatroom-}"
    install -D -m 644 "$png" "$root/usr/share/icons/hicolor/${size}x${size}/apps/chatroom.png"
  done
  write_copyright >"$root/usr/share/doc/chatroom/copyright"
  install -d "$root/usr/share/man/man1" "$root/usr/share/lintian/overrides"
  write_man_page | gzip -9n >"$root/usr/share/man/man1/chatroom.1.gz"
  install -m 644 packaging/linux/lintian-overrides "$root/usr/share/lintian/overrides/chatroom"
  printf 'chatroom (%s) unstable; urgency=medium\n\n  * Release %s; see the project history.\n\n -- %s  %s\n' \
    "$VERSION" "$VERSION" "$MAINTAINER" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
    | gzip -9n >"$root/usr/share/doc/chatroom/changelog.gz"
  # Plain modes whatever the umask was: directories and programs 755, data 644.
  find "$root" -type d -exec chmod 755 {} +
  find "$root" -type f -exec chmod 644 {} +
  chmod 755 "$root/opt/chatroom/chatroom"
  find "$root/opt/chatroom" -type f -name '*.so*' -exec chmod 644 {} +
}

write_copyright() {
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Chatroom
Upstream-Contact: $MAINTAINER
Comment: /opt/chatroom bundles Python 3 (PSF-2.0), Qt 6 with Qt for Python
 (PySide6, shiboken6: LGPL-3) and ICU (Unicode-3.0), and the Python packages
 Chatroom uses, each with its metadata and licence files in
 /opt/chatroom/_internal/<package>.dist-info. Qt's libraries are shared
 libraries in /opt/chatroom/_internal/PySide6/Qt/lib and may be replaced.

Files: *
Copyright: The Chatroom developers
License: MIT

Files: opt/chatroom/_internal/PySide6/* opt/chatroom/_internal/shiboken6/*
Copyright: The Qt Company Ltd. and other contributors
License: LGPL-3
 On Debian systems, the full text of the GNU Lesser General Public License
 version 3 can be found in /usr/share/common-licenses/LGPL-3.

License: MIT
$(sed -e 's/^$/./' -e 's/^/ /' LICENSE)
EOF
}

# A man page made from `chatroom --help`, so the two never disagree.
write_man_page() {
  printf '.TH CHATROOM 1 "" "chatroom %s" "User Commands"\n' "$VERSION"
  printf '.SH NAME\nchatroom \\- compare the replies of several language models side by side\n'
  printf '.SH DESCRIPTION\n.nf\n'
  # roff: a backslash is written \e; a line may not start with . or '.
  COLUMNS=80 "$BUNDLE/chatroom" --help | sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\&&/"
  printf '.fi\n'
}

write_control() {
  local root="$1" depends installed_kb
  depends="$(debian_depends)"
  installed_kb="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  install -d "$root/DEBIAN"
  cat >"$root/DEBIAN/control" <<EOF
Package: chatroom
Version: $VERSION
Architecture: $DEB_ARCH
Maintainer: $MAINTAINER
Installed-Size: $installed_kb
Depends: $depends
Section: net
Priority: optional
Homepage: https://github.com/chatroom-app/chatroom
Description: compare the replies of several language models side by side
 Chatroom sends one prompt to several language models at once and shows
 their answers side by side while they stream, with time to first token,
 speed and cost for each. It talks to OpenRouter or any OpenAI-compatible
 server (llama.cpp, Ollama, LM Studio, vLLM) and keeps API keys in the
 system keyring.
EOF
  # Desktop menus and icon caches: Debian's triggers refresh them too; these
  # calls cover systems whose packages lack the triggers.
  local script
  for script in postinst postrm; do
    cat >"$root/DEBIAN/$script" <<'EOF'
#!/bin/sh
set -e
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
exit 0
EOF
    chmod 755 "$root/DEBIAN/$script"
  done
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
}

build_deb() {
  say "deb"
  DEB_ARCH="$(dpkg --print-architecture)"
  DEB="dist/chatroom_${VERSION}_${DEB_ARCH}.deb"
  local root="$STAGE/chatroom_${VERSION}_${DEB_ARCH}"
  rm -rf "$STAGE"
  stage_deb_files "$root"
  write_control "$root"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$DEB" >/dev/null
  sed -n 's/^Depends: /Depends: /p' "$root/DEBIAN/control"
}

mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

print_sizes() {
  say "Installer size (chatroom $VERSION, $(uname -m))"
  printf '| what | MiB |\n| --- | ---: |\n'
  printf '| bundle, unpacked (dist/chatroom) | %s |\n' "$(mb "$(du -sb "$BUNDLE" | cut -f1)")"
  printf '| %s | %s |\n' "$(basename "$TARBALL")" "$(mb "$(stat -c %s "$TARBALL")")"
  printf '| %s | %s |\n' "$(basename "$DEB")" "$(mb "$(stat -c %s "$DEB")")"
  printf '| build time (PyInstaller, tar.gz and .deb) | %s s |\n' "$BUILD_SECONDS"
  printf '\nTen largest files of the bundle:\n\n| file | MiB |\n| --- | ---: |\n'
  find "$BUNDLE" -type f -printf '%s\t%P\n' | sort -rn | sed -n 1,10p | while IFS=$'\t' read -r bytes path; do
    printf '| %s | %s |\n' "$path" "$(mb "$bytes")"
  done
}

main() {
  local started=$SECONDS
  # shellcheck disable=SC2086  # the lists split into package names
  install_debian_packages $BUILD_PACKAGES $BUNDLE_LIBRARY_PACKAGES
  prepare_venv
  VERSION="$(app_version)"
  MAINTAINER="${DEBFULLNAME:-The Chatroom developers} <${DEBEMAIL:-chatroom@users.noreply.github.com}>"
  build_bundle
  build_tarball
  build_deb
  BUILD_SECONDS=$((SECONDS - started))
  if [ "$LINTIAN" -eq 1 ]; then
    say "lintian"
    install_debian_packages lintian
    lintian --fail-on error,warning "$DEB"
  fi
  print_sizes
}

main
