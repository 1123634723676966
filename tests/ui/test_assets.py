"""ui/assets.py finds resources/ in a checkout and in a frozen bundle."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication

from chatroom.ui import assets

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_finds_the_repository_resources() -> None:
    assert assets.resources_dir() == ROOT / "resources"
    assert assets.icon_path(16) == ROOT / "resources" / "icons" / "chatroom-16.png"
    assert assets.license_path() == ROOT / "LICENSE"


def test_the_app_icon_has_every_size(qapp: QApplication) -> None:
    icon = assets.app_icon()
    assert icon.availableSizes() == [QSize(n, n) for n in assets.ICON_SIZES_PX]
    assert not icon.pixmap(32, 32).isNull()


def test_a_size_not_shipped_has_no_path() -> None:
    assert assets.icon_path(17) is None


def test_a_frozen_bundle_is_searched_first_then_beside_the_executable(tmp_path: Path) -> None:
    dirs = assets.candidate_dirs(
        frozen=True,
        bundle_dir=str(tmp_path / "_internal"),
        executable=str(tmp_path / "chatroom"),
        package_dir=tmp_path / "_internal" / "chatroom",
    )
    assert dirs == [tmp_path / "_internal" / "resources", tmp_path / "resources"]
    without_bundle = assets.candidate_dirs(
        frozen=True, bundle_dir=None, executable=str(tmp_path / "chatroom"), package_dir=tmp_path
    )
    assert without_bundle == [tmp_path / "resources"]


def frozen(monkeypatch: pytest.MonkeyPatch, executable: Path, bundle: Path | None) -> None:
    """Make this process look like a PyInstaller build for one test."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(executable))
    if bundle is None:
        monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    else:
        monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)


def fake_bundle(root: Path) -> Path:
    """resources/ and LICENSE copied into `root`, as the PyInstaller spec lays them out."""
    shutil.copytree(ROOT / "resources" / "icons", root / "resources" / "icons")
    shutil.copy(ROOT / "LICENSE", root / "LICENSE")
    return root / "resources"


def test_a_onedir_bundle_uses_its_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: QApplication
) -> None:
    resources = fake_bundle(tmp_path / "_internal")
    frozen(monkeypatch, tmp_path / "chatroom", tmp_path / "_internal")
    assert assets.resources_dir() == resources
    assert assets.icon_path(512) == resources / "icons" / "chatroom-512.png"
    assert assets.license_path() == tmp_path / "_internal" / "LICENSE"
    assert len(assets.app_icon().availableSizes()) == len(assets.ICON_SIZES_PX)


def test_a_bundle_without_a_data_folder_looks_beside_the_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = fake_bundle(tmp_path)
    frozen(monkeypatch, tmp_path / "chatroom", None)
    assert assets.resources_dir() == resources


def test_no_resources_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: QApplication) -> None:
    frozen(monkeypatch, tmp_path / "chatroom", tmp_path / "_internal")
    assert assets.resources_dir() is None
    assert assets.icon_path(16) is None
    assert assets.license_path() is None
    assets.app_icon()  # the theme's icon or none: no error either way
