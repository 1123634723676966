"""Tests for chatroom.core.paths: platform directories that honour XDG_* on Linux."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chatroom.core import paths

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="XDG base directories apply to Linux only"
)

XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point every XDG base directory at its own folder under tmp_path."""
    dirs = {var: tmp_path / var.lower() for var in XDG_VARS}
    for var, directory in dirs.items():
        monkeypatch.setenv(var, str(directory))
    return dirs


@linux_only
def test_directories_follow_the_xdg_variables(xdg: dict[str, Path]) -> None:
    assert paths.config_dir() == xdg["XDG_CONFIG_HOME"] / "chatroom"
    assert paths.data_dir() == xdg["XDG_DATA_HOME"] / "chatroom"
    assert paths.cache_dir() == xdg["XDG_CACHE_HOME"] / "chatroom"
    assert paths.state_dir() == xdg["XDG_STATE_HOME"] / "chatroom"


@linux_only
def test_files_sit_in_their_directories(xdg: dict[str, Path]) -> None:
    assert paths.settings_path() == xdg["XDG_CONFIG_HOME"] / "chatroom" / "settings.json"
    assert paths.database_path() == xdg["XDG_DATA_HOME"] / "chatroom" / "chatroom.sqlite3"
    assert paths.models_cache_path() == xdg["XDG_CACHE_HOME"] / "chatroom" / "models.json"


@linux_only
def test_the_environment_is_read_at_each_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "one"))
    assert paths.settings_path() == tmp_path / "one" / "chatroom" / "settings.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "two"))
    assert paths.settings_path() == tmp_path / "two" / "chatroom" / "settings.json"


@linux_only
def test_without_xdg_variables_the_home_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in XDG_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.config_dir() == tmp_path / ".config" / "chatroom"
    assert paths.data_dir() == tmp_path / ".local" / "share" / "chatroom"
    assert paths.cache_dir() == tmp_path / ".cache" / "chatroom"
    assert paths.state_dir() == tmp_path / ".local" / "state" / "chatroom"


def test_asking_for_a_path_creates_nothing(xdg: dict[str, Path], tmp_path: Path) -> None:
    for function in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.state_dir,
                     paths.settings_path, paths.database_path, paths.models_cache_path):
        function()
    assert list(tmp_path.iterdir()) == []


def test_every_directory_is_named_for_the_app(xdg: dict[str, Path]) -> None:
    for function in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.state_dir):
        assert function().name == "chatroom"
