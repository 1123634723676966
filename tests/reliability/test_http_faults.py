"""Faults before the first token: error statuses, retries, unreachable servers.

Each test runs a whole turn in a real window against real sockets, then asks:
what does the affected pane say, did the other panes finish, was the room
saved as shown, and (conftest.py) was no key logged.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState
from chatroom.core.secrets import ENV_VAR, KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.main_window import MainWindow
from chatroom.ui.pane import ReplyPane
from tests.conftest import MemoryKeyring
from tests.fake_openrouter import FakeOpenRouter
from tests.reliability.harness import (
    TIMEOUT_MS,
    WRONG_KEY,
    assert_saved_as_shown,
    chats_for,
    close_and_save,
    free_port,
    gaps_s,
    run_turn,
)
from tests.ui.conftest import WindowFactory

# qasync sleeps on Qt's coarse timers, which may fire up to 5 % early.
EARLY: Final = 0.95
# How late a retry may come on a busy machine and still count as on time.
LATE_S: Final = 0.4


def dismiss_next_dialog() -> list[str]:
    """Close the next modal dialog as soon as it shows; the list gets its class name."""
    seen: list[str] = []
    tries = [0]

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog):
            seen.append(type(dialog).__name__)
            dialog.reject()
        elif tries[0] < TIMEOUT_MS // 10:
            tries[0] += 1
            QTimer.singleShot(10, look)

    QTimer.singleShot(0, look)
    return seen


def test_401_says_the_key_was_rejected_and_links_to_settings(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path, memory_keyring: MemoryKeyring,
) -> None:
    db = tmp_path / "h.sqlite3"
    with FakeOpenRouter() as local:  # another endpoint, which needs no key
        settings = Settings(endpoints=[Endpoint("openrouter", fake_server.base_url, None),
                                       Endpoint("local", local.local_base_url, None)])  # fmt: skip
        window, _ = run_turn(
            qtbot, make_window, db, ["fake/echo"], more_seats=[("fake/lorem", "local")],
            settings=settings, keys=KeyStore(environ={ENV_VAR: WRONG_KEY}),
        )
        rejected, other = window.pane_for("fake/echo"), window.pane_for("fake/lorem")
        assert rejected.state is ReplyState.FAILED
        error = rejected.error_label.text()
        assert "The key was rejected" in error and "Settings" in error
        assert 'href="chatroom:settings"' in error
        assert len(chats_for(fake_server, "fake/echo")) == 1  # a wrong key is not sent again
        assert other.state is ReplyState.DONE and other.reply_text() != ""

        opened = dismiss_next_dialog()
        rejected.error_label.linkActivated.emit("chatroom:settings")
        qtbot.waitUntil(lambda: opened != [], timeout=TIMEOUT_MS)
        assert opened == ["SettingsDialog"]
        close_and_save(qtbot, qt_loop, window)
    room = assert_saved_as_shown(db, window)
    reply = room.turns[0].replies[rejected.seat_id]
    assert reply.error is not None and "The key was rejected" in reply.error


@pytest.mark.parametrize(
    ("model", "says"),
    [
        # 402: what happened, then what to do; never retried.
        ("fake/http-402", ("Insufficient credits", "Add credits")),
        # 403 moderation: the provider, its reasons from metadata, its message.
        ("fake/http-403", ("flagged by OpenAI", "(harassment)", "No credits were charged")),
    ],
    ids=["402-insufficient-credits", "403-moderation"],
)
def test_a_refusal_says_why_and_is_not_retried(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path, model: str, says: tuple[str, ...],
) -> None:
    db = tmp_path / "h.sqlite3"
    window, _ = run_turn(qtbot, make_window, db, [model, "fake/echo"], prompt="hello there")
    refused, echo = window.pane_for(model), window.pane_for("fake/echo")
    assert refused.state is ReplyState.FAILED
    assert refused.error_label.isVisible()
    for phrase in says:
        assert phrase in refused.error_label.text()
    assert len(chats_for(fake_server, model)) == 1
    assert echo.state is ReplyState.DONE and echo.reply_text() == "hello there"
    close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)


RETRIED: Final = {
    "fake/http-408": "The server answered 408: Request timed out.",
    "fake/http-429?retry_after=1": "Rate limited:",
    "fake/http-500": "The server failed (500)",
    "fake/http-502": "The model is unavailable (Fake)",
    "fake/http-503": "The model is unavailable: No allowed providers",
}


def test_transient_statuses_are_retried_twice_with_backoff_then_fail_clearly(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite3"
    window, recorder = run_turn(qtbot, make_window, db, [*RETRIED, "fake/echo"], prompt="hello there")
    for model, message in RETRIED.items():
        pane = window.pane_for(model)
        assert pane.state is ReplyState.FAILED, model
        assert message in pane.error_label.text(), model
        assert pane.retry_button.isVisible()  # by hand, later, it may well work
        assert pane.status_label.text() == ""  # no stale "retrying" once failed
        assert recorder.statuses[pane.label] == [
            "retrying in 1 s (attempt 2)", "retrying in 1 s (attempt 3)"
        ], model
        requests = chats_for(fake_server, model)
        assert len(requests) == 3, model  # at most two retries
        first, second = gaps_s(requests)
        if "retry_after" in model:  # Retry-After: 1 is honoured (1.05–1.25 s), not the backoff
            assert 1.0 <= first <= 1.25 + LATE_S and 1.0 <= second <= 1.25 + LATE_S
        else:  # exponential backoff from 0.5 s, minus up to a quarter of jitter
            assert EARLY * 0.375 <= first <= 0.5 + LATE_S, model
            assert EARLY * 0.75 <= second <= 1.0 + LATE_S, model
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)


class PlainHttpPort:
    """A port that answers everything in plain HTTP: an https URL pointed at it fails its TLS handshake."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="plain-http-port", daemon=True)

    def __enter__(self) -> PlainHttpPort:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()  # accept() fails and the thread ends
        self._thread.join(2)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)  # the ClientHello, read so closing sends no reset
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    conn.shutdown(socket.SHUT_WR)
                    conn.recv(65536)
                except OSError:
                    pass


@pytest.fixture
def plain_http_port() -> Iterator[PlainHttpPort]:
    with PlainHttpPort() as port:
        yield port


@pytest.fixture
def unreachable(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter, plain_http_port: PlainHttpPort,
    tmp_path: Path, memory_keyring: MemoryKeyring,
) -> tuple[MainWindow, dict[str, tuple[str, ReplyPane]]]:
    """A turn with a seat on each unreachable endpoint and one on the fake server.

    Returns the window and, per endpoint, its host as messages name it and its pane.
    """
    dead = f"127.0.0.1:{free_port()}"
    tls = f"127.0.0.1:{plain_http_port.port}"
    hosts = {  # endpoint: (base URL, host)
        "refused": (f"http://{dead}/v1", dead),
        "dns": ("http://chatroom-test.invalid/v1", "chatroom-test.invalid"),
        "tls": (f"https://{tls}/v1", tls),
    }
    settings = Settings(endpoints=[Endpoint("openrouter", fake_server.base_url, None),
                                   *(Endpoint(name, url, None) for name, (url, _) in hosts.items())])  # fmt: skip
    window, _ = run_turn(
        qtbot, make_window, tmp_path / "h.sqlite3", ["fake/lorem"],
        more_seats=[("fake/echo", name) for name in hosts], settings=settings,
    )  # fmt: skip
    hosts["openrouter"] = (fake_server.base_url, fake_server.root_url)
    panes = {window.session.room.seat(p.seat_id).endpoint: p for p in window.panes.values()}
    return window, {name: (host, panes[name]) for name, (_, host) in hosts.items()}


def test_unreachable_servers_say_cannot_reach_the_host_without_a_traceback(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    unreachable: tuple[MainWindow, dict[str, tuple[str, ReplyPane]]],
) -> None:
    window, panes = unreachable
    reasons = {
        "refused": "connection refused.",
        "dns": "the host name could not be resolved.",
        "tls": "the secure connection (TLS) failed.",
    }
    for name, reason in reasons.items():
        host, pane = panes[name]
        assert pane.state is ReplyState.FAILED, name
        assert f"Cannot reach {host}: {reason}" in pane.error_label.text(), name  # what happened
        assert "Settings" in pane.error_label.text(), name  # what to do: check the URL there
        shown = pane.error_label.text() + pane.view.toPlainText()
        assert "Traceback" not in shown and "httpx" not in shown and "Errno" not in shown
        assert pane.retry_button.isVisible()  # the server may be back later
    assert panes["openrouter"][1].state is ReplyState.DONE
    assert not [r for r in caplog.records if r.exc_info is not None]  # handled, not crashed
    close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(tmp_path / "h.sqlite3", window)
