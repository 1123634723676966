"""Fixtures for every test: private XDG dirs, no stray key, the fake server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat import properties

from tests.fake_openrouter import FakeOpenRouter

#: The key the fake server expects in UI tests; never a real key.
TEST_KEY = "sk-or-v1-test-0123456789"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point config/data/cache/state at tmp dirs; no test sees a real key or setting."""
    home = tmp_path / "xdg"
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(home / name.lower()))
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    return home


_LOOPBACK_NAMES = ("localhost", "::1")


@pytest.fixture(autouse=True)
def no_running_loop_outside_qt(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests without the Qt loop may asyncio.run(), whatever ran before them.

    The GUI tests' qasync loop is marked running for the whole session (it is
    never stopped); a core test run after them would otherwise be refused.
    """
    if "qt_loop" in request.fixturenames:
        yield
        return
    previous = asyncio.events._get_running_loop()  # private, but the only handle there is
    asyncio.events._set_running_loop(None)
    yield
    asyncio.events._set_running_loop(previous)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach 127.0.0.0/8 and nothing else: other names fail to resolve at once."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: bytes | str | None, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not (name.startswith("127.") or name in _LOOPBACK_NAMES):
            raise socket.gaierror(socket.EAI_NONAME, f"tests reach loopback only, not {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def fake_server() -> Iterator[FakeOpenRouter]:
    """A fresh fake OpenRouter on 127.0.0.1 that requires TEST_KEY."""
    with FakeOpenRouter(api_key=TEST_KEY) as server:
        yield server


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict, installed with keyring.set_keyring for one test."""

    @properties.classproperty
    def priority(cls) -> float:
        # Never picked by keyring's own backend detection in this process.
        raise RuntimeError("only for tests")

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.passwords[(service, username)]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)
