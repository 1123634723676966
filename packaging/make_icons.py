"""Write the Windows .ico and macOS .icns icons from resources/icons/chatroom-<N>.png.

    python packaging/make_icons.py [OUT_DIR]      (default: build/icons)

Needs Pillow (the project's `packaging` extra). Each size comes from its own
PNG where one exists (the small ones are drawn for their pixel grid), else is
scaled down from the largest. The files are read back to check every size is
there. packaging/chatroom.spec uses them on Windows and macOS; build-linux.sh
runs this too, so CI checks the script on Linux.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from PIL import Image

ROOT: Final = Path(__file__).resolve().parent.parent
PNG_DIR: Final = ROOT / "resources" / "icons"
ICO_SIZES_PX: Final = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico holds
# The pixel sizes of the entries Pillow writes (ic07-ic14, 16 pt to 512 pt at
# 1x and 2x); 1024 is scaled up from the 512 PNG.
ICNS_SIZES_PX: Final = (32, 64, 128, 256, 512, 1024)


def load_pngs(folder: Path = PNG_DIR) -> dict[int, Image.Image]:
    """Every chatroom-<N>.png in `folder`, by N, as RGBA."""
    images = {}
    for path in folder.glob("chatroom-*.png"):
        size_px = int(path.stem.removeprefix("chatroom-"))
        image = Image.open(path).convert("RGBA")
        if image.size != (size_px, size_px):
            raise SystemExit(f"{path} is {image.size}, not {size_px}x{size_px}")
        images[size_px] = image
    if not images:
        raise SystemExit(f"no chatroom-<N>.png in {folder}")
    return images


def sized(images: dict[int, Image.Image], size_px: int) -> Image.Image:
    """The image drawn for this size, or the largest scaled down to it."""
    if size_px in images:
        return images[size_px]
    return images[max(images)].resize((size_px, size_px), Image.Resampling.LANCZOS)


def write_ico(images: dict[int, Image.Image], path: Path) -> None:
    frames = [sized(images, size_px) for size_px in ICO_SIZES_PX]
    frames[-1].save(path, format="ICO", sizes=[f.size for f in frames], append_images=frames[:-1])
    with Image.open(path) as written:
        found = {w for w, _ in written.info["sizes"]}
    if found != set(ICO_SIZES_PX):
        raise SystemExit(f"{path} holds sizes {sorted(found)}, not {ICO_SIZES_PX}")


def write_icns(images: dict[int, Image.Image], path: Path) -> None:
    largest_px = max(images)
    smaller = [sized(images, size_px) for size_px in ICNS_SIZES_PX if size_px < largest_px]
    images[largest_px].save(path, format="ICNS", append_images=smaller)
    with Image.open(path) as written:
        found = {width * scale for width, _, scale in written.info["sizes"]}
    missing = set(ICNS_SIZES_PX) - found
    if missing:
        raise SystemExit(f"{path} lacks sizes {sorted(missing)}")


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "icons"
    out_dir.mkdir(parents=True, exist_ok=True)
    images = load_pngs()
    write_ico(images, out_dir / "chatroom.ico")
    write_icns(images, out_dir / "chatroom.icns")
    print(f"wrote {out_dir / 'chatroom.ico'} and {out_dir / 'chatroom.icns'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
