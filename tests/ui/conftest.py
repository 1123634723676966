"""Fixtures for GUI tests: one qasync loop on pytest-qt's qapp, a window factory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from chatroom.app import create_window
from chatroom.ui.event_loop import create_event_loop, shutdown_event_loop
from chatroom.core.secrets import KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.main_window import MainWindow
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter

WindowFactory = Callable[..., MainWindow]


@pytest.fixture(scope="session")
def qt_loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """One asyncio loop on Qt's, for the whole run.

    Never stopped per test: stopping quits the application and later waits
    would return at once. qtbot.waitUntil drives it. Its thread pool (used by
    asyncio.to_thread) is shut down at the end, or Qt aborts on exit with
    "QThread: Destroyed while thread is still running".
    """
    # As in the app: closing a window must not quit the application, which
    # here would end pending waits and tear windows down under a test.
    qapp.setQuitOnLastWindowClosed(False)
    loop = create_event_loop(qapp, already_running=True)
    yield loop
    shutdown_event_loop(loop)


def run_until_done(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, object],
    timeout_ms: int = 10_000,
) -> None:
    """Run a coroutine on the shared loop and wait for it from outside any coroutine."""
    task = loop.create_task(coro)
    qtbot.waitUntil(task.done, timeout=timeout_ms)
    task.result()


@pytest.fixture
def make_window(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, fake_server: FakeOpenRouter, tmp_path: Path
) -> Iterator[WindowFactory]:
    """Build MainWindows talking to the fake server; closed and drained after the test."""
    windows: list[MainWindow] = []

    def make(
        models: Sequence[str] = (),
        *,
        settings: Settings | None = None,
        keys: KeyStore | None = None,
        base_url: str | None = None,
        history_path: Path | None = None,
    ) -> MainWindow:
        if settings is None:
            # Never the real OpenRouter, even on a "first start" without --base-url.
            settings = Settings(endpoints=[Endpoint("openrouter", fake_server.base_url, None)])
        window = create_window(
            settings,
            tmp_path / "settings.json",
            keys or KeyStore(environ={"OPENROUTER_API_KEY": TEST_KEY}),
            # "" = no --base-url, as a first start would be.
            base_url=fake_server.base_url if base_url is None else base_url or None,
            models=models,
            history_path=history_path,
        )
        # Not qtbot.addWidget: pytest-qt would delete the window (and its
        # session) before this fixture has stopped the session's tasks.
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        run_until_done(qtbot, qt_loop, window.session.aclose())
        if window.session.history is not None:
            window.session.history.close()
        window.deleteLater()
