"""The key travels only to the endpoint it was saved for, and never in clear unwarned.

Redirects: an endpoint that answers 3xx with a Location on another server
must not make the client follow it (the key would go along); the second
server must receive nothing at all. Plain http:// to anything but this
machine gets a visible warning in Settings. Two endpoints with two keys: each
server sees its own key only, and a keyless endpoint sees no key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Literal, TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from chatroom.core.client import ChatClient
from chatroom.core.errors import ApiError, ChatroomError
from chatroom.core.room import ReplyState, Room
from chatroom.core.secrets import ApiKey, KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.session import ClientPool, RoomSession
from chatroom.ui.settings_dialog import BaseUrlCheck, SettingsDialog, check_base_url
from tests.conftest import MemoryKeyring
from tests.fake_openrouter import FakeOpenRouter, RecordedRequest
from tests.security.canary import Canary
from tests.security.test_canary import button, named, seat
from tests.ui.conftest import WindowFactory, run_until_done
from tests.ui.test_main_window import send, wait_idle

T = TypeVar("T")
Call = Literal["chat", "models", "test connection"]
REDIRECTS = (301, 302, 303, 307, 308)
CHAT_BODY = {"model": "fake/echo", "stream": True, "messages": [{"role": "user", "content": "hello"}]}


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: qasync leaves its loop marked running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def attempt(base_url: str, key: str, call: Call) -> ChatroomError | None:
    """Make one call as the app does; the error it ended with, if any."""
    # attribution=True: test_connection then also asks /key, as it does for OpenRouter.
    client = ChatClient(base_url, ApiKey(key), attribution=True, max_retries=2, retry_base_s=0.01)
    try:
        if call == "chat":
            async for _ in client.stream_chat(CHAT_BODY):
                pass
        elif call == "models":
            await client.list_models()
        else:
            await client.test_connection()
    except ChatroomError as exc:
        return exc
    finally:
        await client.aclose()
    return None


def wire_text(request: RecordedRequest) -> str:
    """Everything a server received in one request: line, headers and body."""
    return f"{request.method} {request.path}?{request.query}\n{request.headers!r}\n{json.dumps(request.body)}"


@pytest.fixture
def redirecting(canary: Canary) -> Iterator[tuple[FakeOpenRouter, FakeOpenRouter]]:
    """A server that wants the canary and redirects every API call to a second, open one."""
    with FakeOpenRouter(api_key=canary.key) as first, FakeOpenRouter() as second:
        first.redirect_to = second.base_url
        yield first, second


# -- redirects ---------------------------------------------------------------


@pytest.mark.parametrize("call", ["chat", "models", "test connection"])
@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirect_is_not_followed(
    redirecting: tuple[FakeOpenRouter, FakeOpenRouter], canary: Canary, status: int, call: Call
) -> None:
    first, second = redirecting
    first.redirect_status = status
    error = run_async(attempt(first.base_url, canary.key, call))
    assert isinstance(error, ApiError) and error.status == status
    assert str(status) in str(error) and not canary.is_in(str(error))
    assert second.requests == []  # nothing followed, so no Authorization header went there
    assert len(first.requests) == 1  # and a redirect is not retried


def test_a_redirect_error_says_the_endpoint_moved_and_where(
    redirecting: tuple[FakeOpenRouter, FakeOpenRouter], canary: Canary
) -> None:
    first, second = redirecting
    error = run_async(attempt(first.base_url, canary.key, "chat"))
    assert error is not None
    message = str(error)
    assert "redirect" in message.lower()
    assert f"127.0.0.1:{second.port}" in message


def test_a_window_seat_on_a_redirecting_endpoint_fails_and_sends_nothing_on(
    qtbot: QtBot, make_window: WindowFactory, redirecting: tuple[FakeOpenRouter, FakeOpenRouter], canary: Canary
) -> None:
    first, second = redirecting
    window = make_window(
        ["fake/echo"], keys=KeyStore(environ={"OPENROUTER_API_KEY": canary.key}), base_url=first.base_url
    )
    send(qtbot, window, "hello")
    wait_idle(qtbot, window)
    pane = window.pane_for("fake/echo")
    assert pane.state is ReplyState.FAILED
    assert "307" in pane.error_label.text()
    # The catalogue (GET /models) and the chat request were both redirected, neither followed.
    assert {(r.method, r.path) for r in first.requests} >= {
        ("GET", "/api/v1/models"),
        ("POST", "/api/v1/chat/completions"),
    }
    assert second.requests == []


# -- plain http ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v1",
        "HTTP://Example.COM:8080/api/v1",
        "http://192.168.1.20:11434/v1",  # the LAN is not this machine
        "http://10.0.0.5/v1",
        "http://127.0.0.1.nip.io/v1",  # looks like loopback, resolves anywhere
        "http://localhost.example.com/v1",
        "http://[2001:db8::1]:8000/v1",
    ],
)
def test_plain_http_to_another_host_warns_that_the_key_travels_unencrypted(url: str) -> None:
    check = check_base_url(url)
    assert check.is_valid and check.warning is not None
    assert "key" in check.warning and "unencrypted" in check.warning


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://127.8.9.10/v1",
        "http://localhost:11434/v1",
        "http://LOCALHOST:11434/v1",
        "http://llm.localhost/v1",
        "http://[::1]:8000/v1",
        "https://openrouter.ai/api/v1",
        "https://example.com/v1",
    ],
)
def test_loopback_http_and_https_do_not_warn(url: str) -> None:
    assert check_base_url(url) == BaseUrlCheck()


@pytest.fixture
def open_settings(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, memory_keyring: MemoryKeyring
) -> Iterator[Callable[..., SettingsDialog]]:
    """Open Settings as the window does (its jobs on a RoomSession); closed afterwards."""
    session = RoomSession(Room(), ClientPool({}, KeyStore(environ={})))
    dialogs: list[SettingsDialog] = []

    def open_dialog(*, base_url_override: str | None = None) -> SettingsDialog:
        dialog = SettingsDialog(
            Settings(), KeyStore(environ={}), session.run_job, base_url_override=base_url_override
        )
        qtbot.addWidget(dialog)
        dialog.show()
        dialogs.append(dialog)
        return dialog

    yield open_dialog
    for dialog in dialogs:
        dialog.reject()
    run_until_done(qtbot, qt_loop, session.aclose())


def test_settings_shows_the_plain_http_warning(
    qtbot: QtBot, open_settings: Callable[..., SettingsDialog]
) -> None:
    dialog = open_settings()
    qtbot.mouseClick(button(dialog, "Add endpoint"), Qt.MouseButton.LeftButton)
    url_edit = named(dialog, QLineEdit, "Base URL")
    problem = named(dialog, QLabel, "Base URL problem")
    qtbot.keyClicks(url_edit, "http://example.com/v1")
    assert problem.isVisible()
    assert "unencrypted" in problem.text() and "example.com" in problem.text()
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None and box.button(QDialogButtonBox.StandardButton.Ok).isEnabled()  # a warning only
    url_edit.clear()
    qtbot.keyClicks(url_edit, "http://127.0.0.1:8080/v1")
    assert not problem.isVisible()


def test_settings_warns_about_a_plain_http_base_url_override(open_settings: Callable[..., SettingsDialog]) -> None:
    dialog = open_settings(base_url_override="http://gateway.example.com/api/v1")
    override = named(dialog, QLabel, "Base URL override")
    problem = named(dialog, QLabel, "Base URL problem")
    assert override.isVisible()
    warnings = [label.text() for label in (override, problem) if label.isVisible()]
    assert any("unencrypted" in text for text in warnings)


# -- one key per endpoint ------------------------------------------------------


@pytest.mark.parametrize("local_key", [True, False], ids=["local-with-key", "local-without-key"])
def test_each_endpoint_receives_only_its_own_key(
    qtbot: QtBot, make_window: WindowFactory, memory_keyring: MemoryKeyring, local_key: bool
) -> None:
    key_a = f"sk-or-v1-endpoint-a-{uuid.uuid4().hex}"
    key_b = f"sk-local-endpoint-b-{uuid.uuid4().hex}"
    keys = KeyStore(environ={})
    with FakeOpenRouter(api_key=key_a) as remote, FakeOpenRouter(api_key=key_b if local_key else None) as local:
        keys.set("openrouter", key_a, remote.base_url)
        if local_key:
            keys.set("local", key_b, local.local_base_url)
        settings = Settings(
            endpoints=[Endpoint("openrouter", remote.base_url, None), Endpoint("local", local.local_base_url)]
        )
        window = make_window(settings=settings, keys=keys, base_url="")
        seat(window, "openrouter", "fake/echo")
        seat(window, "local", "fake/lorem?rate=400")
        send(qtbot, window, "who gets which key?")
        wait_idle(qtbot, window)
        assert window.pane_for("fake/echo").state is ReplyState.DONE
        assert window.pane_for("fake/lorem?rate=400").state is ReplyState.DONE
        to_remote, to_local = remote.requests, local.requests
    assert remote.chat_requests() and local.chat_requests()
    assert {r.headers.get("authorization") for r in to_remote} == {f"Bearer {key_a}"}
    expected_local = {f"Bearer {key_b}"} if local_key else {None}
    assert {r.headers.get("authorization") for r in to_local} == expected_local
    assert [r.path for r in to_remote if key_b in wire_text(r)] == []
    assert [r.path for r in to_local if key_a in wire_text(r)] == []


def test_an_error_quoting_the_key_is_shown_and_stored_masked(make_window: WindowFactory) -> None:
    from chatroom.core.room import Reply, ReplyState, SeatId

    window = make_window(["fake/echo"])
    reply = Reply(SeatId("s1"))
    # The session's one place where a reply's error is set: a server quoting the key back.
    window.session._end(reply, ReplyState.FAILED, "Invalid key sk-or-v1-echoed0123456789abcdef in request")
    assert reply.error is not None and "echoed0123456789" not in reply.error
