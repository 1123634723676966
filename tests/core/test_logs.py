"""The log file: rotating, in the state dir, with every secret masked before writing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroom.core.logs import MASK, recent_log_lines, redact, setup_logging

CANARY = "sk-or-v1-canary0123456789abcdef"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {CANARY}",
        f"headers={{'authorization': 'Bearer {CANARY}'}}",
        f"key is {CANARY}.",
        f"bearer {CANARY}",
        f"{{'Authorization': '{CANARY}'}}",
    ],
)
def test_redact_masks_keys_and_authorization(text: str) -> None:
    masked = redact(text)
    assert CANARY not in masked and "canary" not in masked
    assert MASK in masked


def test_redact_leaves_ordinary_text() -> None:
    assert redact("temperature 0.7 for openai/gpt-4o-mini") == "temperature 0.7 for openai/gpt-4o-mini"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    path = setup_logging(tmp_path / "state", debug=True)
    yield path
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
            root.removeHandler(handler)
    root.setLevel(level)


def test_the_file_never_holds_a_key(log_file: Path) -> None:
    log = logging.getLogger("chatroom.test")
    log.debug("sending with %s", {"Authorization": f"Bearer {CANARY}"})
    log.info("a key in the message: %s", CANARY)
    try:
        raise ValueError(f"boom {CANARY}")
    except ValueError:
        log.exception("failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert CANARY not in text
    assert "sending with" in text and "failed" in text and "ValueError: boom" in text
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"
    assert all(CANARY not in line for line in recent_log_lines(log_file))
    assert recent_log_lines(log_file, 1)[-1].startswith("ValueError")


def test_recent_lines_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert recent_log_lines(tmp_path / "nothing.log") == []
