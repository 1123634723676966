"""The log: a rotating file in the state dir, redacted before anything is written.

Every record passes `RedactingFilter`, which masks Authorization headers and
anything shaped like an API key in the message and its arguments, so a key
cannot reach the file even from a third-party library's debug output. Prompt
and reply text is logged only at DEBUG, by callers that check the level.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from collections import deque
from pathlib import Path
from typing import Final

__all__ = [
    "LOG_NAME",
    "RedactingFilter",
    "recent_log_lines",
    "redact",
    "setup_logging",
]

LOG_NAME: Final = "chatroom.log"
MAX_BYTES: Final = 1_000_000
BACKUPS: Final = 3
MASK: Final = "<redacted>"

_PATTERNS: Final = (
    # "Authorization: Bearer x", "'authorization': 'Bearer x'", "Bearer x" alone.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
    # OpenRouter (sk-or-v1-...), OpenAI-style (sk-...) and similar keys.
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),
)


def redact(text: str) -> str:
    """`text` with Authorization values and key-shaped tokens masked."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message; arguments are merged in first."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: keep what can be read
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatted here, redacted, and stored as text: the formatter then
            # uses it as it is instead of formatting the exception again.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(log_dir: Path, *, debug: bool = False) -> Path:
    """Send every record (WARNING and up, or DEBUG) to a rotating file; return its path.

    Called once at start; stderr keeps warnings for a terminal user.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_NAME
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    for existing in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in existing.filters):
            existing.addFilter(RedactingFilter())
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    path.chmod(0o600)
    return path


def recent_log_lines(path: Path, count: int = 200) -> list[str]:
    """The last `count` lines of the log (already redacted when written), redacted again."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return [redact(line.rstrip("\n")) for line in deque(file, maxlen=count)]
    except OSError:
        return []
