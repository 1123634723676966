"""Fixtures for the fault matrix: the window factory, and a watch on every log record for keys."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability.harness import SECRETS, StallMeter
from tests.ui.conftest import make_window, qt_loop  # noqa: F401  (fixtures, re-exported)


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every record of the test, at any level and with its traceback, holds no key.

    The records are checked as the code logged them, before any redaction a
    handler might do: a key that never reaches a record cannot leak from one.
    """
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        text = formatter.format(record)  # the message, its arguments, exc_info and stack
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{record.name} logged a key at {record.levelname}"


@pytest.fixture
def stall_meter() -> Iterator[StallMeter]:
    """A StallMeter, stopped after the test even if it failed while measuring (the heap unfrozen)."""
    meter = StallMeter()
    yield meter
    meter.stop()


_LOOPBACK_NAMES = ("localhost", "::1")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As tests/conftest.py's guard, but an unknown name fails as the real resolver says it.

    The DNS row needs the resolver's own words ("Name or service not known");
    no name other than loopback is ever looked up, so no query leaves the machine.
    """
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: bytes | str | None, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not (name.startswith("127.") or name in _LOOPBACK_NAMES):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
