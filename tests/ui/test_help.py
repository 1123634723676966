"""The Help menu: a problem report with versions and redacted log lines."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QApplication

from chatroom import __version__
from chatroom.core.logs import RedactingFilter
from chatroom.ui.main_window import problem_report
from tests.ui.conftest import WindowFactory


def test_report_a_problem_copies_versions_and_redacted_lines(
    make_window: WindowFactory, private_dirs: Path
) -> None:
    log_dir = private_dirs / "state" / "chatroom"
    log_dir.mkdir(parents=True)
    (log_dir / "chatroom.log").write_text(
        "INFO one\nWARNING sent Authorization: Bearer sk-or-v1-canarycanary123\nERROR two\n"
    )
    window = make_window()
    window.on_report_problem_triggered()
    report = QApplication.clipboard().text()
    assert report.startswith(f"Chatroom {__version__}")
    assert "Qt " in report and "Python " in report and "Platform: " in report
    assert "ERROR two" in report and "canary" not in report


def test_problem_report_without_a_log(tmp_path: Path) -> None:
    assert "Last 0 log lines" in problem_report(tmp_path / "none.log")


def test_the_redacting_filter_rewrites_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", ("sk-or-v1-abcdefgh12345",), None)
    assert RedactingFilter().filter(record)
    assert "abcdefgh" not in record.getMessage()
