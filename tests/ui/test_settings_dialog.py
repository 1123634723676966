"""SettingsDialog: URL checks, key status and actions through the keyring, test connection."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
from collections.abc import Iterator
from typing import TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from chatroom.core.room import Room
from chatroom.core.secrets import ENV_VAR, SERVICE, KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.session import ClientPool, RoomSession
from chatroom.ui.settings_dialog import SettingsDialog, check_base_url
from tests.conftest import TEST_KEY, MemoryKeyring
from tests.fake_openrouter import FakeOpenRouter

# The offscreen platform says this on every first show(); it is not our bug.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")

TIMEOUT_MS = 10_000
CANARY = "sk-canary-0123456789abcdef"
W = TypeVar("W", bound=QWidget)


@pytest.fixture
def session(qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop) -> Iterator[RoomSession]:
    """The app's job runner: RoomSession.run_job on the shared qasync loop."""
    room_session = RoomSession(Room(), ClientPool({}, KeyStore(environ={})))
    yield room_session
    closing = qt_loop.create_task(room_session.aclose())
    qtbot.waitUntil(closing.done, timeout=TIMEOUT_MS)
    closing.result()


def open_dialog(
    qtbot: QtBot,
    session: RoomSession,
    keys: KeyStore,
    settings: Settings | None = None,
    base_url_override: str | None = None,
) -> SettingsDialog:
    dialog = SettingsDialog(
        settings or Settings(), keys, session.run_job, base_url_override=base_url_override
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def named(parent: QWidget, kind: type[W], name: str) -> W:
    found = [w for w in parent.findChildren(kind) if w.accessibleName() == name]
    assert len(found) == 1, f"{len(found)} {kind.__name__} named {name!r}"
    return found[0]


def button(dialog: SettingsDialog, text: str) -> QPushButton:
    return next(b for b in dialog.findChildren(QPushButton) if b.text() == text)


def ok_button(dialog: SettingsDialog) -> QPushButton:
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    return box.button(QDialogButtonBox.StandardButton.Ok)


def wait_text(qtbot: QtBot, label: QLabel, start: str) -> None:
    qtbot.waitUntil(lambda: label.text().startswith(start), timeout=TIMEOUT_MS)


def wait_idle(qtbot: QtBot, dialog: SettingsDialog) -> None:
    qtbot.waitUntil(lambda: button(dialog, "Test connection").isEnabled(), timeout=TIMEOUT_MS)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the key field and the key status ----------------------------------------


def test_key_from_the_environment(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    assert dialog.windowTitle() == "Settings"
    key_edit = named(dialog, QLineEdit, "API key")
    assert key_edit.text() == ""
    assert key_edit.echoMode() is QLineEdit.EchoMode.Password
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, f"Using {ENV_VAR} from the environment (not stored).")
    assert key_edit.text() == ""


def test_stored_key_is_not_loaded_into_the_field(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "openrouter")] = CANARY
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    wait_text(qtbot, named(dialog, QLabel, "Key status"), "A key is stored in the system keyring.")
    assert named(dialog, QLineEdit, "API key").text() == ""
    assert all(CANARY not in edit.text() for edit in dialog.findChildren(QLineEdit))


def test_no_key_stored(qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    wait_text(qtbot, named(dialog, QLabel, "Key status"), "No key stored.")


def test_no_keyring_says_how_to_fix_it(qtbot: QtBot, session: RoomSession, no_keyring: None) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "No system keyring is available")
    assert status.text() == KeyStore(environ={}).availability()
    assert ENV_VAR in status.text()


def test_save_key_stores_it_and_clears_the_field(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "No key stored.")
    key_edit = named(dialog, QLineEdit, "API key")
    qtbot.keyClicks(key_edit, CANARY)
    save = button(dialog, "Save key")
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    # Disabled while the keyring call runs.
    assert not save.isEnabled() and not button(dialog, "Delete key").isEnabled()
    wait_text(qtbot, status, "Key saved. A key is stored in the system keyring.")
    wait_idle(qtbot, dialog)
    assert memory_keyring.passwords == {(SERVICE, "openrouter"): CANARY}
    assert key_edit.text() == ""
    assert CANARY not in caplog.text


def test_save_empty_key_is_refused(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    wait_idle(qtbot, dialog)
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    assert "Paste a key" in named(dialog, QLabel, "Key status").text()
    assert memory_keyring.passwords == {}


def test_save_key_without_keyring_shows_the_fix_and_keeps_the_key_out_of_it(
    qtbot: QtBot, session: RoomSession, no_keyring: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "No system keyring")
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    wait_text(qtbot, status, "No system keyring")
    wait_idle(qtbot, dialog)
    assert CANARY not in status.text()
    assert CANARY not in caplog.text


def test_delete_key_asks_first(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "openrouter")] = CANARY
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "A key is stored")
    wait_idle(qtbot, dialog)

    def answer(choice: QMessageBox.StandardButton) -> None:
        qtbot.mouseClick(button(dialog, "Delete key"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(visible_boxes()) == 1)
        visible_boxes()[0].button(choice).click()

    def visible_boxes() -> list[QMessageBox]:
        return [b for b in dialog.findChildren(QMessageBox) if b.isVisible()]

    answer(QMessageBox.StandardButton.Cancel)
    assert memory_keyring.passwords != {}
    answer(QMessageBox.StandardButton.Yes)
    wait_text(qtbot, status, "Key deleted. No key stored.")
    assert memory_keyring.passwords == {}


# -- base URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["", "openrouter.ai/api/v1", "ftp://example.com", "http://", "https://:8080/v1",
     "https://example.com:99999/v1", "https://exa mple.com", "https://u:p@example.com/v1",
     "https://example.com/v1?x=1"],
)
def test_invalid_url_shows_an_error_and_blocks_ok(
    qtbot: QtBot, session: RoomSession, url: str
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    edit = named(dialog, QLineEdit, "Base URL")
    edit.setText(url)
    problem = named(dialog, QLabel, "Base URL problem")
    assert problem.isVisible() and problem.text() == check_base_url(url).error
    assert not ok_button(dialog).isEnabled()
    dialog.accept()  # e.g. Enter in a field: refused, the dialog stays
    assert dialog.isVisible()
    assert dialog.updated_settings().endpoint("openrouter").base_url == Settings().endpoint(
        "openrouter"
    ).base_url
    wait_idle(qtbot, dialog)


@pytest.mark.parametrize(
    ("url", "warns"),
    [("http://example.com/v1", True), ("http://192.168.1.5:8080/v1", True),
     ("http://127.0.0.1:8080/v1", False), ("http://localhost:11434/v1", False),
     ("http://[::1]:8080/v1", False), ("https://example.com/v1", False)],
)
def test_plain_http_to_another_host_warns(
    qtbot: QtBot, session: RoomSession, url: str, warns: bool
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    named(dialog, QLineEdit, "Base URL").setText(url)
    problem = named(dialog, QLabel, "Base URL problem")
    assert problem.isVisible() is warns
    if warns:
        assert "unencrypted" in problem.text()
    assert ok_button(dialog).isEnabled()
    wait_idle(qtbot, dialog)


def test_override_is_shown(qtbot: QtBot, session: RoomSession) -> None:
    keys = KeyStore(environ={ENV_VAR: TEST_KEY})
    dialog = open_dialog(qtbot, session, keys, base_url_override="http://127.0.0.1:9/v1")
    note = named(dialog, QLabel, "Base URL override")
    assert note.isVisible() and "--base-url http://127.0.0.1:9/v1" in note.text()
    plain = open_dialog(qtbot, session, keys)
    assert not named(plain, QLabel, "Base URL override").isVisible()
    wait_idle(qtbot, dialog)
    wait_idle(qtbot, plain)


def test_updated_settings_has_url_and_timeout_but_no_key(
    qtbot: QtBot, session: RoomSession
) -> None:
    settings = Settings(
        endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                   Endpoint("local", "http://127.0.0.1:8080/v1")],
        read_timeout_s=30.0,
    )
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings)
    timeout = named(dialog, QSpinBox, "Read timeout")
    assert (timeout.minimum(), timeout.maximum(), timeout.value()) == (5, 600, 30)
    timeout.setValue(90)
    named(dialog, QLineEdit, "Base URL").setText(" https://gateway.example/api/v1 ")
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    updated = dialog.updated_settings()
    assert updated.read_timeout_s == 90.0
    assert updated.endpoints == [Endpoint("openrouter", "https://gateway.example/api/v1"),
                                 Endpoint("local", "http://127.0.0.1:8080/v1")]
    assert settings.read_timeout_s == 30.0  # a copy: the original is untouched
    assert settings.endpoint("openrouter").base_url == "https://openrouter.ai/api/v1"
    assert CANARY not in json.dumps(dataclasses.asdict(updated))
    wait_idle(qtbot, dialog)
    dialog.accept()
    assert not dialog.isVisible()
    assert named(dialog, QLineEdit, "API key").text() == ""


# -- test connection ---------------------------------------------------------------


def test_connection_to_the_fake_server(
    qtbot: QtBot, session: RoomSession, fake_server: FakeOpenRouter
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    named(dialog, QLineEdit, "Base URL").setText(fake_server.base_url)
    wait_idle(qtbot, dialog)
    test = button(dialog, "Test connection")
    qtbot.mouseClick(test, Qt.MouseButton.LeftButton)
    assert not test.isEnabled()
    status = named(dialog, QLabel, "Connection status")
    wait_text(qtbot, status, "Connected to 127.0.0.1")
    assert "key accepted" in status.text()
    wait_idle(qtbot, dialog)


def test_connection_with_a_typed_wrong_key(
    qtbot: QtBot, session: RoomSession, fake_server: FakeOpenRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    named(dialog, QLineEdit, "Base URL").setText(fake_server.base_url)
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    wait_idle(qtbot, dialog)
    qtbot.mouseClick(button(dialog, "Test connection"), Qt.MouseButton.LeftButton)
    status = named(dialog, QLabel, "Connection status")
    qtbot.waitUntil(lambda: not status.text().startswith("Connecting"), timeout=TIMEOUT_MS)
    assert not status.text().startswith("Connected")
    assert "401" in status.text() or "key" in status.text().lower()
    assert CANARY not in status.text()
    assert CANARY not in caplog.text
    wait_idle(qtbot, dialog)


def test_connection_to_a_dead_port(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    named(dialog, QLineEdit, "Base URL").setText(f"http://127.0.0.1:{dead_port()}/v1")
    wait_idle(qtbot, dialog)
    qtbot.mouseClick(button(dialog, "Test connection"), Qt.MouseButton.LeftButton)
    status = named(dialog, QLabel, "Connection status")
    wait_text(qtbot, status, "Cannot reach 127.0.0.1")
    wait_idle(qtbot, dialog)


def test_render(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(
        qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}),
        base_url_override="http://127.0.0.1:8099/api/v1",
    )
    named(dialog, QLineEdit, "Base URL").setText("http://example.com/v1")
    wait_idle(qtbot, dialog)
    assert not dialog.grab().isNull()
