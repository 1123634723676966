"""Fixtures for the security tests: the UI fixtures, a canary, DEBUG logging with a tap."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroom.core import paths
from chatroom.core.logs import RedactingFilter, setup_logging
from tests.security.canary import Canary, RecordTap
from tests.ui.conftest import make_window, qt_loop  # noqa: F401  (fixtures used here too)


@pytest.fixture
def canary() -> Canary:
    return Canary()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR (Python's tempfile and Qt's QDir::tempPath) inside tmp_path, to be searched."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


@pytest.fixture
def record_tap() -> Iterator[RecordTap]:
    """Every log record, as created, from every logger (httpx, httpcore, qasync included)."""
    tap = RecordTap()
    tap.install()
    yield tap
    tap.uninstall()


@pytest.fixture
def debug_log(
    private_dirs: Path, caplog: pytest.LogCaptureFixture, record_tap: RecordTap
) -> Iterator[Path]:
    """`chatroom --debug` logging: chatroom.log in the private state dir, caplog at DEBUG.

    Undone afterwards: the file handler goes, the root level and the filters
    setup_logging put on pytest's handlers are restored.
    """
    root = logging.getLogger()
    level = root.level
    caplog.set_level(logging.DEBUG)  # before setup_logging: caplog restores WARNING last
    path = setup_logging(paths.state_dir(), debug=True)
    yield path
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            root.removeHandler(handler)
            handler.close()
    for handler in root.handlers:
        for redacting in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(redacting)
    root.setLevel(level)
