"""A canary key and the places it is looked for: files, log records, texts.

The canary is a unique, key-shaped value. Tests use it as the API key through
the whole app, then look for its unique part everywhere the app could have
put it; finding it anywhere but the keyring and the fake server is a leak.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Canary", "RecordTap", "SeenRecord"]


@dataclass(frozen=True)
class Canary:
    """A unique key `sk-or-v1-canary-<32 hex digits>`; `mark` is the part looked for."""

    mark: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def key(self) -> str:
        return f"sk-or-v1-canary-{self.mark}"

    def __repr__(self) -> str:
        # A failing assertion prints its operands: show where, never the value.
        return "Canary(<hidden>)"

    def _needles(self) -> tuple[bytes, ...]:
        # UTF-8 (JSON, sqlite, logs) and UTF-16 (Qt's and Windows' own formats).
        return self.mark.encode(), self.mark.encode("utf-16-le"), self.mark.upper().encode()

    def is_in(self, text: str) -> bool:
        return self.mark in text or self.mark.upper() in text

    def files_holding(self, root: Path) -> list[Path]:
        """Every regular file under `root` whose bytes contain the canary."""
        needles = self._needles()
        hits: list[Path] = []
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                hits.append(path)
        return hits

    def places_holding(self, places: Iterable[tuple[str, str]]) -> list[str]:
        """The names of the (name, text) places whose text contains the canary."""
        return [name for name, text in places if self.is_in(text)]


@dataclass(frozen=True)
class SeenRecord:
    """A log record as it was created, before any filter could redact it."""

    logger: str
    level: int
    text: str  # message, raw msg and args, exception and stack, as one string


class RecordTap:
    """Keeps a copy of every log record at creation (a record factory).

    Handlers and their filters see a record after it was made; a filter that
    redacts it changes it for every later handler too. The tap sees what the
    code that logged actually passed, from any logger, propagating or not.
    """

    def __init__(self) -> None:
        self.records: list[SeenRecord] = []
        self._lock = threading.Lock()  # records are made in worker threads too
        self._previous = logging.getLogRecordFactory()

    def install(self) -> None:
        previous = self._previous

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            self._keep(record)
            return record

        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        logging.setLogRecordFactory(self._previous)

    def _keep(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception as exc:  # a malformed call still shows its parts below
            message = f"<unformattable: {type(exc).__name__}>"
        parts = [message, repr(record.msg), repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
        if record.stack_info:
            parts.append(record.stack_info)
        seen = SeenRecord(record.name, record.levelno, "\n".join(parts))
        with self._lock:
            self.records.append(seen)

    def snapshot(self) -> list[SeenRecord]:
        with self._lock:
            return list(self.records)
