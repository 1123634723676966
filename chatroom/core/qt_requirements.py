"""What Qt needs from the system, and what to tell the user when it is missing.

Qt's own reaction to a missing library or display is an abort with a message
that names neither (for a missing X display it even blames libxcb-cursor0).
`app.py` calls these functions only once Qt has failed (an ImportError from
PySide6, or a fatal message while QApplication starts), so a wrong guess here
can never stop an app that would have run. Nothing here imports Qt.

The sonames are what the PySide6 wheel's libraries and platform plugins link
against (`readelf -d`), each with the Debian package that ships it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Final

__all__ = [
    "GUI_LIBRARIES",
    "PLATFORM_LIBRARIES",
    "can_load_library",
    "explain_import_error",
    "explain_qt_failure",
    "install_hint",
    "missing_libraries",
    "requested_platforms",
]

#: Libraries QtCore, QtGui, QtWidgets, QtNetwork and QtDBus load, whatever the platform plugin.
GUI_LIBRARIES: Final[Mapping[str, str]] = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libzstd.so.1": "libzstd1",
    "libbrotlidec.so.1": "libbrotli1",
}

#: Libraries each Linux platform plugin adds to GUI_LIBRARIES.
PLATFORM_LIBRARIES: Final[Mapping[str, Mapping[str, str]]] = {
    "xcb": {
        "libxcb.so.1": "libxcb1",
        "libX11-xcb.so.1": "libx11-xcb1",
        "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
        "libxcb-cursor.so.0": "libxcb-cursor0",
        "libxcb-icccm.so.4": "libxcb-icccm4",
        "libxcb-util.so.1": "libxcb-util1",
        "libxcb-image.so.0": "libxcb-image0",
        "libxcb-keysyms.so.1": "libxcb-keysyms1",
        "libxcb-randr.so.0": "libxcb-randr0",
        "libxcb-render.so.0": "libxcb-render0",
        "libxcb-render-util.so.0": "libxcb-render-util0",
        "libxcb-shape.so.0": "libxcb-shape0",
        "libxcb-shm.so.0": "libxcb-shm0",
        "libxcb-sync.so.1": "libxcb-sync1",
        "libxcb-xfixes.so.0": "libxcb-xfixes0",
        "libxcb-xkb.so.1": "libxcb-xkb1",
    },
    "wayland": {
        "libwayland-client.so.0": "libwayland-client0",
        "libwayland-cursor.so.0": "libwayland-cursor0",
    },
}

_SONAME: Final = re.compile(r"([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file")
_AVAILABLE: Final = re.compile(r"Available platform plugins are: ([^.\n]*)")
_NO_DISPLAY_HINT: Final = (
    "Start Chatroom from a desktop session, or set QT_QPA_PLATFORM=offscreen to run it without a screen."
)

LibraryLoader = Callable[[str], bool]


def can_load_library(soname: str) -> bool:
    """True if the dynamic linker finds `soname` (or a frozen bundle carries it)."""
    import ctypes  # deferred: only a failed start needs it, and every start imports this module

    try:
        ctypes.CDLL(soname)
    except OSError:
        bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller may ship a library itself
        return bundle is not None and (Path(bundle) / soname).is_file()
    return True


def missing_libraries(sonames: Iterable[str], can_load: LibraryLoader = can_load_library) -> list[str]:
    """The sonames that cannot be loaded, in the order given, without repeats."""
    return [name for name in dict.fromkeys(sonames) if not can_load(name)]


def install_hint(sonames: Iterable[str]) -> str:
    """'… libfoo.so.1, libbar.so.2. On Debian or Ubuntu: sudo apt-get install …'."""
    names = list(sonames)
    known = {**GUI_LIBRARIES, **{k: v for libs in PLATFORM_LIBRARIES.values() for k, v in libs.items()}}
    packages = list(dict.fromkeys(known[name] for name in names if name in known))
    hint = f"{', '.join(names)}."
    if packages:
        hint += f" On Debian or Ubuntu: sudo apt-get install {' '.join(packages)}"
    return hint


def requested_platforms(environ: Mapping[str, str]) -> list[str]:
    """The Linux platform plugins Qt will try, in order, as QGuiApplication chooses them."""
    value = environ.get("QT_QPA_PLATFORM", "")
    if value:
        # "wayland;xcb" tries each; "xcb:option=x" passes options to a plugin.
        return [item.split(":", 1)[0] for item in value.split(";") if item]
    if environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def explain_import_error(message: str, can_load: LibraryLoader = can_load_library) -> str | None:
    """What to tell the user when importing PySide6 failed with `message`, or None.

    None means the error is not about a missing system library: the caller
    lets it propagate as the bug it probably is.
    """
    match = _SONAME.search(message)
    if match is None:
        return None
    missing = [match.group(1), *missing_libraries(GUI_LIBRARIES, can_load)]
    return f"Qt cannot start: this system lacks {install_hint(dict.fromkeys(missing))}"


def explain_qt_failure(
    qt_messages: Iterable[str],
    environ: Mapping[str, str],
    *,
    can_load: LibraryLoader = can_load_library,
    system: str = sys.platform,
) -> str:
    """One message for a QApplication that failed to start, from Qt's own messages."""
    messages = list(qt_messages)
    found = next((m for m in map(_AVAILABLE.search, messages) if m), None)
    available = [name.strip() for name in found.group(1).split(",")] if found else []
    if system.startswith("linux"):
        for platform in requested_platforms(environ):
            problem = _platform_problem(platform, available, messages, environ, can_load)
            if problem:
                return problem
    first = next((m.strip().splitlines()[0] for m in messages if m.strip()), "no message")
    return f"Qt could not start its platform plugin: {first}"


def _platform_problem(
    platform: str,
    available: list[str],
    messages: list[str],
    environ: Mapping[str, str],
    can_load: LibraryLoader,
) -> str | None:
    """Why `platform` failed, if something tells: an unknown name, no display, a library."""
    if available and platform not in available:
        return (
            f'Qt has no platform plugin "{platform}" (asked for by QT_QPA_PLATFORM); '
            f"this build has: {', '.join(sorted(available))}."
        )
    missing = missing_libraries([*GUI_LIBRARIES, *PLATFORM_LIBRARIES.get(platform, {})], can_load)
    if missing:
        return f"Qt's {platform} platform plugin needs libraries this system lacks: {install_hint(missing)}"
    if platform == "xcb" and not environ.get("DISPLAY"):
        return f"No X display: DISPLAY is not set. {_NO_DISPLAY_HINT}"
    if platform == "xcb" and any("could not connect to display" in m for m in messages):
        return (
            f"Cannot open the X display {environ['DISPLAY']!r}: no X server answers there, or this "
            f"user may not use it (xauth). {_NO_DISPLAY_HINT}"
        )
    if platform == "wayland" and not environ.get("WAYLAND_DISPLAY"):
        return f"No Wayland display: WAYLAND_DISPLAY is not set. {_NO_DISPLAY_HINT}"
    return None
