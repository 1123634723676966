"""Render resources/chatroom.svg to resources/icons/chatroom-<N>.png.

    QT_QPA_PLATFORM=offscreen python resources/make_icons.py [--check]

Run it after editing the SVG and commit the PNGs: the app and the packages
ship PNGs, so neither needs Qt's SVG plugin at run time. It uses QtSvg from
PySide6-Essentials (already a dependency), so the output does not depend on
which ImageMagick or librsvg a machine has. `--check` renders in memory and
exits 1 if a committed PNG differs, e.g. after an SVG edit without a re-run.
The .ico and .icns files are made from these PNGs by the packaging build.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Final

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE: Final = Path(__file__).resolve().parent
SVG: Final = HERE / "chatroom.svg"
SIZES_PX: Final = (16, 24, 32, 48, 64, 128, 256, 512)
#: Below this size the SVG's text lines blur into grey noise: they are left out.
TEXT_LINES_MIN_PX: Final = 48
_TEXT_LINES: Final = re.compile(r'<g id="text-lines".*?</g>', re.DOTALL)


def icon_path(size_px: int) -> Path:
    return HERE / "icons" / f"chatroom-{size_px}.png"


def svg_for(svg: str, size_px: int) -> QSvgRenderer:
    """A renderer for one size: the full drawing, or without text lines when small."""
    if size_px < TEXT_LINES_MIN_PX:
        svg, count = _TEXT_LINES.subn("", svg)
        assert count == 1, "chatroom.svg lost its text-lines group"
    return QSvgRenderer(QByteArray(svg.encode()))


def render(renderer: QSvgRenderer, size_px: int) -> bytes:
    """One size as PNG bytes: the SVG scaled to fill the square, antialiased."""
    image = QImage(size_px, size_px, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed PNGs")
    args = parser.parse_args()
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QPainter needs one
    svg = SVG.read_text(encoding="utf-8")
    stale = []
    for size_px in SIZES_PX:
        renderer = svg_for(svg, size_px)
        if not renderer.isValid():
            print(f"make_icons: cannot read {SVG}", file=sys.stderr)
            return 1
        png = render(renderer, size_px)
        path = icon_path(size_px)
        if args.check:
            if not path.exists() or path.read_bytes() != png:
                stale.append(path.name)
            continue
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(png)
    del app
    if stale:
        print(f"make_icons: out of date: {', '.join(stale)}; run resources/make_icons.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
