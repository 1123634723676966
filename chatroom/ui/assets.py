"""The one place that locates files in resources/: icons, the licence.

Three layouts exist:
- a source checkout or editable install: `<repo>/resources`, next to the
  `chatroom` package;
- a frozen PyInstaller bundle: `resources/` inside the bundle's data folder
  (`sys._MEIPASS`, which is `_internal/` in a onedir build) or, for an older
  or hand-made layout, next to the executable;
- a plain wheel install, which carries no resources: the icon then comes from
  the desktop's icon theme (installed by a package), or there is none.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

__all__ = [
    "ICON_NAME",
    "ICON_SIZES_PX",
    "app_icon",
    "candidate_dirs",
    "icon_path",
    "license_path",
    "resources_dir",
]

#: The icon's name in icon themes and in the .desktop file's Icon= key.
ICON_NAME: Final = "chatroom"
#: The PNG sizes resources/make_icons.py renders.
ICON_SIZES_PX: Final = (16, 24, 32, 48, 64, 128, 256, 512)
_LICENSE: Final = "LICENSE"


def candidate_dirs(
    *, frozen: bool, bundle_dir: str | None, executable: str, package_dir: Path
) -> list[Path]:
    """Where resources/ may be, most specific first (pure: tests pass their own)."""
    if frozen:
        roots = [Path(bundle_dir)] if bundle_dir else []
        roots.append(Path(executable).resolve().parent)
    else:
        roots = [package_dir.parent]  # chatroom/ sits next to resources/ in a checkout
    return [root / "resources" for root in roots]


def _first_dir(candidates: Iterable[Path]) -> Path | None:
    return next((path for path in candidates if path.is_dir()), None)


def _first_file(candidates: Iterable[Path]) -> Path | None:
    return next((path for path in candidates if path.is_file()), None)


def resources_dir() -> Path | None:
    """The resources folder of this run, or None (a wheel install has none)."""
    return _first_dir(
        candidate_dirs(
            frozen=bool(getattr(sys, "frozen", False)),
            bundle_dir=getattr(sys, "_MEIPASS", None),
            executable=sys.executable,
            package_dir=Path(__file__).resolve().parent.parent,
        )
    )


def icon_path(size_px: int) -> Path | None:
    """The application icon as a PNG of this size, if the resources are here."""
    folder = resources_dir()
    path = folder / "icons" / f"{ICON_NAME}-{size_px}.png" if folder else None
    return path if path is not None and path.is_file() else None


def license_path() -> Path | None:
    """The licence text: in resources' parent (checkout, bundle root) or in resources."""
    folder = resources_dir()
    if folder is None:
        return None
    return _first_file([folder.parent / _LICENSE, folder / _LICENSE])


def app_icon() -> QIcon:
    """Chatroom's icon in every size shipped, for the window and the task bar.

    PNGs rather than the SVG: no SVG image plugin is needed at run time, and
    each small size is drawn for its pixel grid.
    """
    icon = QIcon()
    for size_px in ICON_SIZES_PX:
        path = icon_path(size_px)
        if path is not None:
            icon.addFile(str(path), QSize(size_px, size_px))
    if icon.isNull():
        # A wheel install: the theme icon a package put in place, if any.
        return QIcon.fromTheme(ICON_NAME)
    return icon
