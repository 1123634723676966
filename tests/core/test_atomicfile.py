"""Tests for chatroom.core.atomicfile: the old file survives any failed write."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import NoReturn

import pytest

from chatroom.core.atomicfile import write_atomic

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def leftovers(directory: Path, target: Path) -> list[Path]:
    """Everything in `directory` except `target`: temporary files that were not removed."""
    return [p for p in directory.iterdir() if p != target]


def test_writes_the_bytes_and_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "settings.json"
    write_atomic(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert leftovers(target.parent, target) == []


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old contents that are longer")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path, target) == []


def test_writes_an_empty_file(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    write_atomic(target, b"")
    assert target.read_bytes() == b""


@posix_only
def test_the_file_is_private_by_default(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@posix_only
def test_the_mode_can_be_chosen(tmp_path: Path) -> None:
    target = tmp_path / "export.html"
    write_atomic(target, b"<p>hi</p>", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_failed_fsync_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")

    def disk_full(fd: int) -> NoReturn:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path, target) == []


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")

    def refuse(src: str, dst: str) -> NoReturn:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path, target) == []


def test_an_interrupt_mid_write_cleans_up_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")

    def interrupted(fd: int) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path, target) == []


def test_a_directory_in_the_way_is_an_error_and_leaves_no_temporary(tmp_path: Path) -> None:
    # A real failure of the final rename, with nothing patched.
    target = tmp_path / "settings.json"
    target.mkdir()
    (target / "keep").write_bytes(b"x")
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert (target / "keep").read_bytes() == b"x"
    assert leftovers(tmp_path, target) == []
