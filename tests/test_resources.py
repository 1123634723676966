"""resources/: the icon files, the desktop entry and the AppStream metainfo agree with the app."""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chatroom import __version__
from chatroom.ui import assets
from chatroom.ui.application import APPLICATION_NAME, DESKTOP_FILE_NAME

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / "chatroom.desktop"
METAINFO = RESOURCES / "chatroom.metainfo.xml"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, the first after the signature."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def metainfo() -> ET.Element:
    return ET.parse(METAINFO).getroot()


def test_every_icon_size_is_a_png_of_that_size() -> None:
    for size_px in assets.ICON_SIZES_PX:
        assert png_size(RESOURCES / "icons" / f"chatroom-{size_px}.png") == (size_px, size_px)
    assert ET.parse(RESOURCES / "chatroom.svg").getroot().get("viewBox") == "0 0 64 64"


def test_the_desktop_entry_starts_the_installed_script_with_our_icon() -> None:
    entry = desktop_entry()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["gui-scripts"]
    assert entry["Exec"].split()[0] in scripts
    assert entry["Icon"] == assets.ICON_NAME
    assert entry["Terminal"] == "false" and entry["Type"] == "Application"
    assert DESKTOP.stem == DESKTOP_FILE_NAME  # the Wayland app id is the desktop file's name


def test_startup_wm_class_is_what_the_window_reports() -> None:
    # Qt's WM_CLASS is (argv[0], applicationName); tests/test_startup.py and
    # `xprop WM_CLASS` under Xvfb show ("chatroom", "Chatroom").
    assert desktop_entry()["StartupWMClass"] == APPLICATION_NAME


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validate_accepts_it() -> None:
    result = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_metainfo_release_is_this_version() -> None:
    releases = metainfo().findall("releases/release")
    assert releases, "no <release> in the metainfo"
    assert releases[0].get("version") == __version__  # the newest comes first


def test_the_metainfo_launches_our_desktop_file() -> None:
    root = metainfo()
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("icon") == assets.ICON_NAME


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_appstreamcli_validates_the_metainfo() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", "--pedantic", str(METAINFO)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_appstreamcli_validates_the_installed_layout(tmp_path: Path) -> None:
    """The names a package must install under, checked together as a tree."""
    component_id = metainfo().findtext("id")
    share = tmp_path / "usr" / "share"
    for folder in ("metainfo", "applications", "icons/hicolor/128x128/apps"):
        (share / folder).mkdir(parents=True)
    shutil.copy(METAINFO, share / "metainfo" / f"{component_id}.metainfo.xml")
    shutil.copy(DESKTOP, share / "applications" / DESKTOP.name)
    shutil.copy(RESOURCES / "icons" / "chatroom-128.png", share / "icons/hicolor/128x128/apps/chatroom.png")
    result = subprocess.run(
        ["appstreamcli", "validate-tree", "--no-net", "--pedantic", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
