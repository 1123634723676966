"""Fixtures for every test: private XDG dirs, no stray key, the fake server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def fake_server() -> Iterator[FakeOpenRouter]:
    """A fresh fake OpenRouter on 127.0.0.1 that requires TEST_KEY."""
    with FakeOpenRouter(api_key=TEST_KEY) as server:
        yield server
