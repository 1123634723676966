"""A stored key goes only to the origin (scheme, host, port) it was saved for (issue 6).

Two fake servers on 127.0.0.1, on two ports, are two origins. The key is
saved for the first; the endpoint's URL is then edited to the second, as a
user would in Settings. The second server's request log proves it never
received an Authorization header (in fact no request at all) until the user
saved a key for it or moved the stored key there. Keys of custom endpoints
live in the real Secret Service (tests/keyring_session.sh), as the keyring
tests in tests/core do; the `openrouter` entry, which a developer's own
keyring may hold, is only ever used in the in-memory keyring.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import keyring
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from chatroom.core.errors import KeyOriginMismatch
from chatroom.core.origins import origin_of
from chatroom.core.room import ReplyState
from chatroom.core.secrets import ORIGIN_SERVICE, SERVICE, KeyStore
from chatroom.core.settings import OPENROUTER_URL, Endpoint, Settings
from chatroom.ui.main_window import MainWindow
from chatroom.ui.session import ClientPool, EndpointConfig
from chatroom.ui.settings_dialog import SettingsDialog
from tests.conftest import MemoryKeyring
from tests.core.test_secrets import secret_service  # noqa: F401  (fixture used here too)
from tests.fake_openrouter import FakeOpenRouter, RecordedRequest
from tests.security.canary import Canary
from tests.security.test_canary import button, named, seat
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import send, wait_idle

TIMEOUT_MS = 10_000
T = TypeVar("T")
Script = Callable[[SettingsDialog], None]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: qasync leaves its loop marked running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def authorizations(server: FakeOpenRouter) -> set[str | None]:
    return {r.headers.get("authorization") for r in server.requests}


def carries(request: RecordedRequest, key: str) -> bool:
    return key in repr(request.headers) or key in repr(request.body)


@pytest.fixture
def servers(canary: Canary) -> Iterator[tuple[FakeOpenRouter, FakeOpenRouter]]:
    """The server the key was saved for (it wants the canary) and another one (open)."""
    with FakeOpenRouter(api_key=canary.key) as first, FakeOpenRouter() as second:
        assert origin_of(first.local_base_url) != origin_of(second.local_base_url)
        yield first, second


@pytest.fixture
def endpoint(secret_service: None) -> Iterator[str]:  # noqa: F811  (the imported fixture)
    """A fresh endpoint name on the real keyring; its key and origin are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    for service in (SERVICE, ORIGIN_SERVICE):
        if keyring.get_password(service, name) is not None:
            keyring.delete_password(service, name)


def in_settings(qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch, script: Script) -> None:
    """Edit > Settings as the user opens it, with `script` in place of the modal exec()."""

    def scripted_exec(dialog: SettingsDialog) -> int:
        dialog.show()
        qtbot.waitExposed(dialog)
        script(dialog)
        return dialog.result()

    monkeypatch.setattr(SettingsDialog, "exec", scripted_exec)
    window.on_settings_triggered()


def wait_dialog_idle(qtbot: QtBot, dialog: SettingsDialog) -> None:
    qtbot.waitUntil(lambda: button(dialog, "Test connection").isEnabled(), timeout=TIMEOUT_MS)


def edit_url(qtbot: QtBot, dialog: SettingsDialog, name: str, url: str) -> None:
    """Select endpoint `name` and replace its base URL, keystroke by keystroke."""
    endpoints = named(dialog, QListWidget, "Endpoints")
    row = next(r for r in range(endpoints.count()) if endpoints.item(r).text() == name)
    endpoints.setCurrentRow(row)
    wait_dialog_idle(qtbot, dialog)  # the keyring was asked about this endpoint's key
    url_edit = named(dialog, QLineEdit, "Base URL")
    url_edit.clear()
    qtbot.keyClicks(url_edit, url)


def answer(qtbot: QtBot, dialog: SettingsDialog, choice: QMessageBox.StandardButton) -> None:
    qtbot.waitUntil(lambda: any(b.isVisible() for b in dialog.findChildren(QMessageBox)), timeout=TIMEOUT_MS)
    box = next(b for b in dialog.findChildren(QMessageBox) if b.isVisible())
    box.button(choice).click()


def moved_window(
    make_window: WindowFactory,
    name: str,
    keys: KeyStore,
    server: FakeOpenRouter,
    *,
    openrouter: FakeOpenRouter | None = None,
) -> MainWindow:
    """A window whose endpoint `name` is on `server`, with one seat there.

    The window's `openrouter` endpoint is on `openrouter` (default: `server`
    too): its catalogue is fetched without a key, and a test that counts a
    server's requests puts it elsewhere.
    """
    home = openrouter or server
    settings = Settings(endpoints=[Endpoint("openrouter", home.base_url, None), Endpoint(name, server.local_base_url)])
    window = make_window(settings=settings, keys=keys, base_url="")
    seat(window, name, "fake/echo")
    return window


def window_with_key(make_window: WindowFactory, name: str, canary: Canary, first: FakeOpenRouter) -> MainWindow:
    """The canary key saved in the real keyring for `first`, and a window using it there."""
    keys = KeyStore(environ={})
    keys.set(name, canary.key, first.local_base_url)
    return moved_window(make_window, name, keys, first)


# -- Settings: the URL moves to another host ------------------------------------


@pytest.mark.keyring
def test_editing_the_url_to_another_host_withholds_the_key(
    qtbot: QtBot,
    make_window: WindowFactory,
    monkeypatch: pytest.MonkeyPatch,
    servers: tuple[FakeOpenRouter, FakeOpenRouter],
    endpoint: str,
    canary: Canary,
) -> None:
    first, second = servers
    window = window_with_key(make_window, endpoint, canary, first)
    send(qtbot, window, "before the move")
    wait_idle(qtbot, window)
    assert window.pane_for("fake/echo").state is ReplyState.DONE  # the key works where it was saved
    old, new = origin_of(first.local_base_url), origin_of(second.local_base_url)

    def script(dialog: SettingsDialog) -> None:
        edit_url(qtbot, dialog, endpoint, second.local_base_url)
        message = named(dialog, QLabel, "Key address")
        assert message.isVisible()
        assert f"saved for {old}" in message.text() and f"will not be sent to {new}" in message.text()
        assert "Paste a key" in message.text()
        assert named(dialog, QPushButton, "Move key to this address").isVisible()
        # Test connection does not send the stored key to the new host either.
        qtbot.mouseClick(button(dialog, "Test connection"), Qt.MouseButton.LeftButton)
        connection = named(dialog, QLabel, "Connection status")
        qtbot.waitUntil(lambda: "is not sent" in connection.text(), timeout=TIMEOUT_MS)
        # A path on the old origin is still the key's server; back on the new one, the warning returns.
        named(dialog, QLineEdit, "Base URL").setText(f"{first.root_url}/other/v1")
        assert not message.isVisible()
        named(dialog, QLineEdit, "Base URL").setText(second.local_base_url)
        assert message.isVisible()
        dialog.accept()

    in_settings(qtbot, window, monkeypatch, script)
    assert window.settings.endpoint(endpoint).base_url == second.local_base_url
    chats_before = len(first.chat_requests())
    send(qtbot, window, "after the move")
    wait_idle(qtbot, window)
    pane = window.pane_for("fake/echo")
    assert pane.state is ReplyState.FAILED
    error = pane.error_label.text()
    assert f"was saved for {old} and is not sent to {new}" in error
    assert "Open Settings" in error and not canary.is_in(error)
    # The second host received nothing: no chat, no catalogue, so no Authorization header.
    assert second.requests == []
    assert len(first.chat_requests()) == chats_before
    assert keyring.get_password(ORIGIN_SERVICE, endpoint) == old  # nothing was rebound


@pytest.mark.keyring
def test_moving_the_key_after_asking_sends_it_to_the_new_host_only(
    qtbot: QtBot,
    make_window: WindowFactory,
    monkeypatch: pytest.MonkeyPatch,
    servers: tuple[FakeOpenRouter, FakeOpenRouter],
    endpoint: str,
    canary: Canary,
) -> None:
    first, second = servers
    window = window_with_key(make_window, endpoint, canary, first)
    new = origin_of(second.local_base_url)

    def script(dialog: SettingsDialog) -> None:
        edit_url(qtbot, dialog, endpoint, second.local_base_url)
        move = named(dialog, QPushButton, "Move key to this address")
        qtbot.mouseClick(move, Qt.MouseButton.LeftButton)
        answer(qtbot, dialog, QMessageBox.StandardButton.Cancel)  # nothing moves without a Yes
        wait_dialog_idle(qtbot, dialog)
        assert keyring.get_password(ORIGIN_SERVICE, endpoint) == origin_of(first.local_base_url)
        qtbot.mouseClick(move, Qt.MouseButton.LeftButton)
        answer(qtbot, dialog, QMessageBox.StandardButton.Yes)
        status = named(dialog, QLabel, "Key status")
        qtbot.waitUntil(lambda: status.text() == f"Key moved. A key is stored in the system keyring for {new}.",
                        timeout=TIMEOUT_MS)
        assert not named(dialog, QLabel, "Key address").isVisible() and not move.isVisible()
        wait_dialog_idle(qtbot, dialog)
        dialog.accept()

    in_settings(qtbot, window, monkeypatch, script)
    assert keyring.get_password(ORIGIN_SERVICE, endpoint) == new
    send(qtbot, window, "moved")
    wait_idle(qtbot, window)
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    assert second.chat_requests()
    assert authorizations(second) == {f"Bearer {canary.key}"}
    # And the old host no longer gets it: a fresh store refuses it there.
    with pytest.raises(KeyOriginMismatch):
        KeyStore(environ={}).get(endpoint, first.local_base_url)


@pytest.mark.keyring
def test_a_key_saved_for_the_new_host_is_the_only_one_it_sees(
    qtbot: QtBot,
    make_window: WindowFactory,
    monkeypatch: pytest.MonkeyPatch,
    servers: tuple[FakeOpenRouter, FakeOpenRouter],
    endpoint: str,
    canary: Canary,
) -> None:
    first, second = servers
    new_key = f"sk-second-{uuid.uuid4().hex}"
    window = window_with_key(make_window, endpoint, canary, first)

    def script(dialog: SettingsDialog) -> None:
        edit_url(qtbot, dialog, endpoint, second.local_base_url)
        qtbot.keyClicks(named(dialog, QLineEdit, "API key"), new_key)
        qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
        status = named(dialog, QLabel, "Key status")
        qtbot.waitUntil(lambda: status.text().startswith("Key saved."), timeout=TIMEOUT_MS)
        assert not named(dialog, QLabel, "Key address").isVisible()
        wait_dialog_idle(qtbot, dialog)
        dialog.accept()

    in_settings(qtbot, window, monkeypatch, script)
    send(qtbot, window, "new key")
    wait_idle(qtbot, window)
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    assert authorizations(second) == {f"Bearer {new_key}"}
    assert [r.path for r in second.requests if carries(r, canary.key)] == []


@pytest.mark.keyring
def test_a_key_saved_before_binding_keeps_working_and_is_then_bound(
    qtbot: QtBot,
    make_window: WindowFactory,
    servers: tuple[FakeOpenRouter, FakeOpenRouter],
    endpoint: str,
    canary: Canary,
) -> None:
    first, second = servers
    keyring.set_password(SERVICE, endpoint, canary.key)  # as an earlier Chatroom stored it: no origin
    window = moved_window(make_window, endpoint, KeyStore(environ={}), first)
    send(qtbot, window, "an old key")
    wait_idle(qtbot, window)
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    assert f"Bearer {canary.key}" in authorizations(first)
    assert keyring.get_password(ORIGIN_SERVICE, endpoint) == origin_of(first.local_base_url)
    # The settings file now names another host (edited by hand, or synced from elsewhere).
    moved = moved_window(make_window, endpoint, KeyStore(environ={}), second, openrouter=first)
    send(qtbot, moved, "elsewhere")
    wait_idle(qtbot, moved)
    assert moved.pane_for("fake/echo").state is ReplyState.FAILED
    # Nothing at all: the window's openrouter endpoint (whose catalogue is
    # fetched without a key, once the window has painted) is on `first`.
    assert second.requests == []


# -- --base-url ---------------------------------------------------------------------


def test_base_url_on_this_machine_gets_the_stored_key_which_stays_bound_to_openrouter(
    qtbot: QtBot, make_window: WindowFactory, memory_keyring: MemoryKeyring, canary: Canary
) -> None:
    memory_keyring.passwords[(SERVICE, "openrouter")] = canary.key  # stored before keys were bound
    with FakeOpenRouter(api_key=canary.key) as local:
        # Settings as on a real machine (openrouter.ai, never contacted here); --base-url the test server.
        window = make_window(["fake/echo"], settings=Settings(), keys=KeyStore(environ={}), base_url=local.base_url)
        send(qtbot, window, "through --base-url")
        wait_idle(qtbot, window)
        assert window.pane_for("fake/echo").state is ReplyState.DONE
        assert authorizations(local) == {f"Bearer {canary.key}"}
    # Bound to the saved URL, not to the test server: the next plain run works as before.
    assert memory_keyring.passwords[(ORIGIN_SERVICE, "openrouter")] == "https://openrouter.ai"


def test_base_url_to_another_host_never_gets_the_stored_key(memory_keyring: MemoryKeyring, canary: Canary) -> None:
    KeyStore(environ={}).set("openrouter", canary.key, OPENROUTER_URL)
    override = "https://gateway.example/api/v1"  # refused before any connection is tried
    pool = ClientPool(
        {"openrouter": EndpointConfig("openrouter", override, saved_url=OPENROUTER_URL)}, KeyStore(environ={})
    )

    async def attempt() -> KeyOriginMismatch | None:
        try:
            await pool.client_for("openrouter")
        except KeyOriginMismatch as exc:
            return exc
        finally:
            await pool.aclose()
        return None

    error = run_async(attempt())
    assert error is not None and error.is_run_override
    assert "--base-url" in str(error) and "OPENROUTER_API_KEY" in str(error)
    assert not canary.is_in(str(error))
    assert pool._clients == {}  # no client, so no request, was made


def test_base_url_with_the_environment_key_sends_that_key(
    qtbot: QtBot, make_window: WindowFactory, memory_keyring: MemoryKeyring, canary: Canary
) -> None:
    memory_keyring.passwords[(SERVICE, "openrouter")] = "sk-stored-elsewhere"
    KeyStore(environ={}).set("openrouter", "sk-stored-elsewhere", "https://gateway.example/api/v1")
    with FakeOpenRouter(api_key=canary.key) as local:
        window = make_window(["fake/echo"], keys=KeyStore(environ={"OPENROUTER_API_KEY": canary.key}),
                             base_url=local.base_url)
        send(qtbot, window, "with the environment key")
        wait_idle(qtbot, window)
        assert window.pane_for("fake/echo").state is ReplyState.DONE
        assert authorizations(local) == {f"Bearer {canary.key}"}


# -- the dialog on its own ------------------------------------------------------------


def test_no_key_can_be_saved_for_an_invalid_url(
    qtbot: QtBot,
    make_window: WindowFactory,
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
    canary: Canary,
) -> None:
    window = make_window(settings=Settings(endpoints=[Endpoint("openrouter", OPENROUTER_URL),
                                                      Endpoint("local", "http://127.0.0.1:9/v1")]),
                         keys=KeyStore(environ={}), base_url="")

    def script(dialog: SettingsDialog) -> None:
        edit_url(qtbot, dialog, "local", "http://user@127.0.0.1:9/v1")
        qtbot.keyClicks(named(dialog, QLineEdit, "API key"), canary.key)
        qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
        status = named(dialog, QLabel, "Key status")
        assert status.text().startswith("Enter a valid base URL first")
        assert not canary.is_in(status.text())
        dialog.reject()

    in_settings(qtbot, window, monkeypatch, script)
    assert memory_keyring.passwords == {}


def test_a_key_stored_without_origin_for_a_new_endpoint_is_shown_and_not_bound_yet(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "leftover")] = "sk-leftover"  # an earlier endpoint of that name
    window = make_window(keys=KeyStore(environ={"OPENROUTER_API_KEY": "sk-env"}), base_url="")

    def script(dialog: SettingsDialog) -> None:
        qtbot.mouseClick(button(dialog, "Add endpoint"), Qt.MouseButton.LeftButton)
        name = named(dialog, QLineEdit, "Name")
        name.clear()
        qtbot.keyClicks(name, "leftover")
        name.editingFinished.emit()
        status = named(dialog, QLabel, "Key status")
        qtbot.waitUntil(lambda: status.text() == "A key is stored in the system keyring.", timeout=TIMEOUT_MS)
        wait_dialog_idle(qtbot, dialog)
        dialog.reject()

    in_settings(qtbot, window, monkeypatch, script)
    # Not bound to whatever URL the new endpoint was being typed with.
    assert (ORIGIN_SERVICE, "leftover") not in memory_keyring.passwords
