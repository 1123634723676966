"""SettingsDialog: URL checks, key status and actions through the keyring, test connection."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from chatroom.core.room import Room
from chatroom.core.secrets import ENV_VAR, ORIGIN_SERVICE, SERVICE, KeyStore
from chatroom.core.discovery import KNOWN_LOCAL_SERVERS
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
    local_ports: Sequence[tuple[str, int]] = KNOWN_LOCAL_SERVERS,
) -> SettingsDialog:
    dialog = SettingsDialog(
        settings or Settings(), keys, session.run_job, base_url_override=base_url_override,
        local_ports=local_ports,
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


def stored(memory_keyring: MemoryKeyring) -> dict[str, str]:
    """The keys in the keyring by endpoint name (their origins left out)."""
    return {user: key for (service, user), key in memory_keyring.passwords.items() if service == SERVICE}


def origins(memory_keyring: MemoryKeyring) -> dict[str, str]:
    """The origin each stored key is bound to, by endpoint name."""
    return {user: o for (service, user), o in memory_keyring.passwords.items() if service == ORIGIN_SERVICE}


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
    wait_text(qtbot, named(dialog, QLabel, "Key status"), "A key is stored in the system keyring for https://openrouter.ai.")
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
    wait_text(qtbot, status, "Key saved. A key is stored in the system keyring for https://openrouter.ai.")
    wait_idle(qtbot, dialog)
    assert stored(memory_keyring) == {"openrouter": CANARY}
    assert origins(memory_keyring) == {"openrouter": "https://openrouter.ai"}
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


# -- the endpoint list ---------------------------------------------------------------

LOCAL_URL = "http://127.0.0.1:8080/v1"
LOCAL_ORIGIN = "http://127.0.0.1:8080"


def two_endpoints() -> Settings:
    return Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                               Endpoint("local", LOCAL_URL)])


def endpoint_list(dialog: SettingsDialog) -> QListWidget:
    return named(dialog, QListWidget, "Endpoints")


def names_listed(dialog: SettingsDialog) -> list[str]:
    widget = endpoint_list(dialog)
    return [widget.item(row).text() for row in range(widget.count())]


def select(dialog: SettingsDialog, name: str) -> None:
    widget = endpoint_list(dialog)
    (item,) = widget.findItems(name, Qt.MatchFlag.MatchExactly)
    widget.setCurrentItem(item)


def open_boxes(dialog: SettingsDialog) -> list[QMessageBox]:
    return [b for b in dialog.findChildren(QMessageBox) if b.isVisible()]


def answer_box(qtbot: QtBot, dialog: SettingsDialog, text: str,
               choice: QMessageBox.StandardButton) -> None:
    qtbot.mouseClick(button(dialog, text), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(open_boxes(dialog)) == 1)
    open_boxes(dialog)[0].button(choice).click()
    qtbot.waitUntil(lambda: not open_boxes(dialog))


def add_endpoint(qtbot: QtBot, dialog: SettingsDialog, name: str, url: str) -> None:
    qtbot.mouseClick(button(dialog, "Add endpoint"), Qt.MouseButton.LeftButton)
    name_edit = named(dialog, QLineEdit, "Name")
    assert name_edit.hasFocus() and name_edit.selectedText() == name_edit.text()
    name_edit.clear()
    if name.isascii():
        qtbot.keyClicks(name_edit, name)
    else:
        name_edit.insert(name)  # QTest types ASCII only
    name_edit.editingFinished.emit()
    named(dialog, QLineEdit, "Base URL").setText(url)


def all_text(dialog: SettingsDialog) -> str:
    """Every text the dialog shows: labels, fields, list items, titles, tooltips."""
    parts = [dialog.windowTitle()]
    parts += [w.text() + w.toolTip() for w in dialog.findChildren(QLabel)]
    parts += [w.text() + w.toolTip() for w in dialog.findChildren(QPushButton)]
    parts += [w.text() for w in dialog.findChildren(QLineEdit) if w.accessibleName() != "API key"]
    widget = endpoint_list(dialog)
    parts += [widget.item(r).text() + widget.item(r).toolTip() for r in range(widget.count())]
    parts += [w.title() for w in dialog.findChildren(QGroupBox)]
    return "\n".join(parts)


def test_list_starts_with_openrouter_which_stays_and_keeps_its_name(
    qtbot: QtBot, session: RoomSession
) -> None:
    settings = Settings(endpoints=[Endpoint("local", LOCAL_URL),
                                   Endpoint("openrouter", "https://openrouter.ai/api/v1")])
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings)
    assert names_listed(dialog) == ["openrouter", "local"]
    assert endpoint_list(dialog).currentRow() == 0
    name = named(dialog, QLineEdit, "Name")
    assert name.text() == "openrouter" and name.isReadOnly()
    remove = button(dialog, "Remove endpoint")
    assert not remove.isEnabled()
    dialog.on_remove_button_clicked()  # even if called: nothing to confirm, nothing removed
    assert not open_boxes(dialog)
    select(dialog, "local")
    assert remove.isEnabled()
    assert name.isReadOnly()  # a saved endpoint keeps its name: seats refer to it
    select(dialog, "openrouter")
    assert not remove.isEnabled()
    assert [e.name for e in dialog.updated_settings().endpoints] == ["openrouter", "local"]
    wait_idle(qtbot, dialog)


def test_add_an_endpoint_with_url_and_limit(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    wait_idle(qtbot, dialog)
    add_endpoint(qtbot, dialog, "box", "http://127.0.0.1:11434/v1")
    assert names_listed(dialog) == ["openrouter", "box"]
    limit = named(dialog, QSpinBox, "Max concurrent replies")
    assert (limit.minimum(), limit.maximum()) == (0, 64)
    assert limit.value() == 1  # a server on this machine: one at a time
    named(dialog, QLineEdit, "Base URL").setText("https://gateway.example/v1")
    assert limit.value() == 0 and limit.text() == "unlimited"  # follows the URL until set
    limit.setValue(4)
    named(dialog, QLineEdit, "Base URL").setText("http://127.0.0.1:11434/v1")
    assert limit.value() == 4  # set by the user: stays
    assert ok_button(dialog).isEnabled()
    updated = dialog.updated_settings()
    assert updated.endpoints[1] == Endpoint("box", "http://127.0.0.1:11434/v1", 4)
    limit.setValue(0)
    assert dialog.updated_settings().endpoints[1].max_concurrent is None
    wait_idle(qtbot, dialog)
    dialog.accept()
    assert not dialog.isVisible()


def test_edit_the_limit_of_a_saved_endpoint(qtbot: QtBot, session: RoomSession) -> None:
    settings = Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1", 100),
                                   Endpoint("local", LOCAL_URL)])
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings)
    limit = named(dialog, QSpinBox, "Max concurrent replies")
    assert limit.value() == 64  # shown clamped, but kept as stored until changed
    select(dialog, "local")
    assert limit.value() == 1
    limit.setValue(0)
    select(dialog, "openrouter")
    assert dialog.updated_settings().endpoints == [
        Endpoint("openrouter", "https://openrouter.ai/api/v1", 100),
        Endpoint("local", LOCAL_URL, None),
    ]
    wait_idle(qtbot, dialog)


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "Enter a name"), ("my box", "letters, digits"), ("é", "letters, digits"),
     ("openrouter", "already called “openrouter”"), ("local", "already called “local”")],
)
def test_a_bad_or_taken_name_is_refused_inline(
    qtbot: QtBot, session: RoomSession, name: str, problem: str
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), two_endpoints())
    wait_idle(qtbot, dialog)
    add_endpoint(qtbot, dialog, name, "http://127.0.0.1:1234/v1")
    message = named(dialog, QLabel, "Endpoint name problem")
    assert message.isVisible() and problem in message.text()
    assert not ok_button(dialog).isEnabled()
    endpoint_list(dialog).setCurrentRow(0)  # the bad one is marked in the list, OK stays blocked
    assert not message.isVisible()
    assert problem in endpoint_list(dialog).item(2).toolTip()
    assert not ok_button(dialog).isEnabled()
    dialog.accept()  # refused: the bad endpoint is shown again
    assert dialog.isVisible() and endpoint_list(dialog).currentRow() == 2
    assert named(dialog, QLineEdit, "Name").hasFocus()
    assert [e.name for e in dialog.updated_settings().endpoints] == ["openrouter", "local"]
    name_edit = named(dialog, QLineEdit, "Name")
    name_edit.setText("lm_studio-2")
    assert not message.isVisible() and ok_button(dialog).isEnabled()
    assert names_listed(dialog) == ["openrouter", "local", "lm_studio-2"]
    wait_idle(qtbot, dialog)


def test_a_saved_odd_name_does_not_block_ok(qtbot: QtBot, session: RoomSession) -> None:
    # An older or hand-edited settings file may hold any non-empty name.
    settings = Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                                   Endpoint("my server", LOCAL_URL)])
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings)
    select(dialog, "my server")
    assert not named(dialog, QLabel, "Endpoint name problem").isVisible()
    assert ok_button(dialog).isEnabled()
    assert [e.name for e in dialog.updated_settings().endpoints] == ["openrouter", "my server"]
    wait_idle(qtbot, dialog)


def test_remove_asks_and_deletes_the_key_on_ok(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "openrouter")] = TEST_KEY
    memory_keyring.passwords[(SERVICE, "local")] = CANARY
    dialog = open_dialog(qtbot, session, KeyStore(environ={}), two_endpoints())
    select(dialog, "local")
    wait_idle(qtbot, dialog)
    answer_box(qtbot, dialog, "Remove endpoint", QMessageBox.StandardButton.Cancel)
    assert names_listed(dialog) == ["openrouter", "local"]
    answer_box(qtbot, dialog, "Remove endpoint", QMessageBox.StandardButton.Yes)
    assert names_listed(dialog) == ["openrouter"]
    assert named(dialog, QLineEdit, "Name").text() == "openrouter"
    assert [e.name for e in dialog.updated_settings().endpoints] == ["openrouter"]
    assert (SERVICE, "local") in memory_keyring.passwords  # not before OK
    wait_idle(qtbot, dialog)
    dialog.accept()
    qtbot.waitUntil(lambda: (SERVICE, "local") not in memory_keyring.passwords,
                    timeout=TIMEOUT_MS)
    assert stored(memory_keyring) == {"openrouter": TEST_KEY}
    assert "local" not in origins(memory_keyring)


def test_remove_then_cancel_keeps_endpoint_and_key(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "local")] = CANARY
    dialog = open_dialog(qtbot, session, KeyStore(environ={}), two_endpoints())
    select(dialog, "local")
    wait_idle(qtbot, dialog)
    answer_box(qtbot, dialog, "Remove endpoint", QMessageBox.StandardButton.Yes)
    dialog.reject()
    wait_idle(qtbot, dialog)
    assert stored(memory_keyring) == {"local": CANARY}


def test_a_removed_name_added_again_keeps_its_new_key(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={}), two_endpoints())
    select(dialog, "local")
    wait_idle(qtbot, dialog)
    answer_box(qtbot, dialog, "Remove endpoint", QMessageBox.StandardButton.Yes)
    add_endpoint(qtbot, dialog, "local", "http://127.0.0.1:9999/v1")
    wait_idle(qtbot, dialog)
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    wait_text(qtbot, named(dialog, QLabel, "Key status"), "Key saved.")
    wait_idle(qtbot, dialog)
    dialog.accept()
    wait_idle(qtbot, dialog)
    assert stored(memory_keyring) == {"local": CANARY}
    assert origins(memory_keyring)["local"] == "http://127.0.0.1:9999"
    assert dialog.updated_settings().endpoints[1] == Endpoint("local", "http://127.0.0.1:9999/v1")


# -- keys per endpoint ---------------------------------------------------------------


def test_key_is_saved_under_the_selected_endpoint(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    memory_keyring.passwords[(SERVICE, "openrouter")] = TEST_KEY
    dialog = open_dialog(qtbot, session, KeyStore(environ={}), two_endpoints())
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "A key is stored")
    key_edit = named(dialog, QLineEdit, "API key")
    qtbot.keyClicks(key_edit, "typed-for-openrouter")
    select(dialog, "local")
    assert key_edit.text() == ""  # a key typed for one endpoint never goes to another
    wait_text(qtbot, status, "No key stored.")
    wait_idle(qtbot, dialog)
    qtbot.keyClicks(key_edit, CANARY)
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    wait_text(qtbot, status, f"Key saved. A key is stored in the system keyring for {LOCAL_ORIGIN}.")
    wait_idle(qtbot, dialog)
    assert stored(memory_keyring) == {"openrouter": TEST_KEY, "local": CANARY}
    select(dialog, "openrouter")
    assert status.text() == "A key is stored in the system keyring for https://openrouter.ai."
    assert "OPENROUTER_API_KEY" in all_text(dialog)
    select(dialog, "local")
    assert status.text() == f"Key saved. A key is stored in the system keyring for {LOCAL_ORIGIN}."
    answer_box(qtbot, dialog, "Delete key", QMessageBox.StandardButton.Yes)
    wait_text(qtbot, status, "Key deleted. No key stored.")
    assert stored(memory_keyring) == {"openrouter": TEST_KEY}
    assert "local" not in origins(memory_keyring)
    assert CANARY not in all_text(dialog)
    assert CANARY not in caplog.text


def test_environment_key_applies_to_openrouter_only(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), two_endpoints())
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, f"Using {ENV_VAR}")
    select(dialog, "local")
    wait_text(qtbot, status, "No key stored.")
    assert ENV_VAR not in all_text(dialog)
    wait_idle(qtbot, dialog)


def test_a_new_endpoint_keeps_its_name_once_it_has_a_key(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    wait_idle(qtbot, dialog)
    add_endpoint(qtbot, dialog, "taken", "http://127.0.0.1:8000/v1")
    name_edit = named(dialog, QLineEdit, "Name")
    assert not name_edit.isReadOnly()
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "No key stored.")
    wait_idle(qtbot, dialog)
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    assert name_edit.isReadOnly()
    wait_text(qtbot, status, "Key saved.")
    wait_idle(qtbot, dialog)
    assert stored(memory_keyring) == {"taken": CANARY}


def test_no_key_is_saved_under_a_bad_or_taken_name(
    qtbot: QtBot, session: RoomSession, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.passwords[(SERVICE, "openrouter")] = TEST_KEY
    dialog = open_dialog(qtbot, session, KeyStore(environ={}))
    wait_idle(qtbot, dialog)
    add_endpoint(qtbot, dialog, "openrouter", "http://127.0.0.1:8000/v1")
    status = named(dialog, QLabel, "Key status")
    wait_text(qtbot, status, "Give the endpoint a valid name")
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    wait_text(qtbot, status, "Give the endpoint a valid name")
    wait_idle(qtbot, dialog)
    assert stored(memory_keyring) == {"openrouter": TEST_KEY}


def test_connection_uses_the_endpoints_own_key(
    qtbot: QtBot, session: RoomSession, fake_server: FakeOpenRouter,
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.passwords[(SERVICE, "local")] = TEST_KEY
    settings = Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                                   Endpoint("local", fake_server.local_base_url)])
    # The environment key is openrouter's only; this one would be refused.
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: CANARY}), settings)
    select(dialog, "local")
    wait_idle(qtbot, dialog)
    qtbot.mouseClick(button(dialog, "Test connection"), Qt.MouseButton.LeftButton)
    status = named(dialog, QLabel, "Connection status")
    wait_text(qtbot, status, "Connected to 127.0.0.1")
    assert "key accepted" in status.text()
    wait_idle(qtbot, dialog)
    select(dialog, "openrouter")  # each endpoint shows its own connection status
    assert not status.isVisible()
    select(dialog, "local")
    assert status.isVisible() and status.text().startswith("Connected")
    headers = [r.headers.get("authorization") for r in fake_server.requests]
    assert headers == [f"Bearer {TEST_KEY}"]


def test_key_never_shows_when_a_local_server_refuses_it(
    qtbot: QtBot, session: RoomSession, fake_server: FakeOpenRouter,
    memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                                   Endpoint("local", fake_server.local_base_url)])
    dialog = open_dialog(qtbot, session, KeyStore(environ={}), settings)
    select(dialog, "local")
    wait_idle(qtbot, dialog)
    qtbot.keyClicks(named(dialog, QLineEdit, "API key"), CANARY)
    qtbot.mouseClick(button(dialog, "Test connection"), Qt.MouseButton.LeftButton)
    status = named(dialog, QLabel, "Connection status")
    qtbot.waitUntil(lambda: not status.text().startswith("Connecting"), timeout=TIMEOUT_MS)
    assert not status.text().startswith("Connected")
    qtbot.mouseClick(button(dialog, "Save key"), Qt.MouseButton.LeftButton)
    wait_text(qtbot, named(dialog, QLabel, "Key status"), "Key saved.")
    wait_idle(qtbot, dialog)
    assert CANARY not in all_text(dialog)
    assert CANARY not in caplog.text
    assert CANARY not in json.dumps(dataclasses.asdict(dialog.updated_settings()))


def test_override_note_is_for_openrouter_only(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), two_endpoints(),
                         base_url_override="http://127.0.0.1:9/v1")
    note = named(dialog, QLabel, "Base URL override")
    assert note.isVisible()
    select(dialog, "local")
    assert not note.isVisible()
    wait_idle(qtbot, dialog)


# -- local servers -------------------------------------------------------------------


@pytest.fixture
def local_server() -> Iterator[FakeOpenRouter]:
    """A fake server without auth, as a local llama.cpp would run."""
    with FakeOpenRouter() as server:
        yield server


def add_buttons(dialog: SettingsDialog) -> list[QPushButton]:
    return [b for b in dialog.findChildren(QPushButton) if b.text() == "Add" and b.isVisible()]


def detect(qtbot: QtBot, dialog: SettingsDialog) -> QLabel:
    wait_idle(qtbot, dialog)
    detect_button = named(dialog, QPushButton, "Detect local servers")
    qtbot.mouseClick(detect_button, Qt.MouseButton.LeftButton)
    assert not detect_button.isEnabled()
    wait_idle(qtbot, dialog)
    qtbot.waitUntil(detect_button.isEnabled, timeout=TIMEOUT_MS)
    return named(dialog, QLabel, "Local servers")


def test_detect_and_add_a_local_server(
    qtbot: QtBot, session: RoomSession, local_server: FakeOpenRouter
) -> None:
    ports = [("llama.cpp", local_server.port), ("vLLM", dead_port())]
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), local_ports=ports)
    status = detect(qtbot, dialog)
    assert status.text() == "Found on this machine:"
    (add,) = add_buttons(dialog)
    assert add.accessibleName() == f"Add llama.cpp at {local_server.local_base_url}"
    qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not add_buttons(dialog))
    assert names_listed(dialog) == ["openrouter", "llamacpp"]
    assert "llamacpp" in status.text()
    assert named(dialog, QLineEdit, "Name").text() == "llamacpp"
    assert named(dialog, QLineEdit, "Base URL").text() == local_server.local_base_url
    assert named(dialog, QSpinBox, "Max concurrent replies").value() == 1
    assert dialog.updated_settings().endpoints[1] == Endpoint(
        "llamacpp", local_server.local_base_url, 1
    )
    status = detect(qtbot, dialog)  # configured now: not offered again
    assert status.text() == "Found llama.cpp, already in the list."
    assert not add_buttons(dialog)


def test_detected_names_get_a_suffix_when_taken(
    qtbot: QtBot, session: RoomSession, local_server: FakeOpenRouter
) -> None:
    settings = Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                                   Endpoint("ollama", "http://192.0.2.1:11434/v1")])
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings,
                         local_ports=[("Ollama", local_server.port)])
    detect(qtbot, dialog)
    (add,) = add_buttons(dialog)
    qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
    assert names_listed(dialog) == ["openrouter", "ollama", "ollama-2"]
    wait_idle(qtbot, dialog)


def test_localhost_url_counts_as_already_configured(
    qtbot: QtBot, session: RoomSession, local_server: FakeOpenRouter
) -> None:
    settings = Settings(endpoints=[
        Endpoint("openrouter", "https://openrouter.ai/api/v1"),
        Endpoint("mine", f"http://localhost:{local_server.port}/v1/"),
    ])
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings,
                         local_ports=[("vLLM", local_server.port)])
    assert detect(qtbot, dialog).text() == "Found vLLM, already in the list."


def test_detect_finds_nothing(qtbot: QtBot, session: RoomSession) -> None:
    first, second = dead_port(), dead_port()
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}),
                         local_ports=[("Ollama", first), ("vLLM", second)])
    status = detect(qtbot, dialog)
    assert status.text() == f"No local servers found on ports {first}, {second}."
    assert not add_buttons(dialog)
    assert names_listed(dialog) == ["openrouter"]


def test_detect_probes_the_usual_ports_by_default(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}))
    tip = named(dialog, QPushButton, "Detect local servers").toolTip()
    assert "11434, 8080, 1234, 8000" in tip
    wait_idle(qtbot, dialog)


# -- turn budget ---------------------------------------------------------------------


def test_turn_budget_round_trip(qtbot: QtBot, session: RoomSession) -> None:
    keys = KeyStore(environ={ENV_VAR: TEST_KEY})
    dialog = open_dialog(qtbot, session, keys, Settings(turn_budget_usd=0.5))
    budget = named(dialog, QDoubleSpinBox, "Turn budget")
    assert (budget.minimum(), budget.maximum(), budget.value()) == (0.0, 1000.0, 0.5)
    assert dialog.updated_settings().turn_budget_usd == 0.5
    budget.setValue(2.25)
    assert dialog.updated_settings().turn_budget_usd == 2.25
    budget.setValue(0)
    assert budget.text() == "none"
    assert dialog.updated_settings().turn_budget_usd is None
    wait_idle(qtbot, dialog)

    none = open_dialog(qtbot, session, keys, Settings())
    assert named(none, QDoubleSpinBox, "Turn budget").text() == "none"
    assert none.updated_settings().turn_budget_usd is None
    # A stored value finer than the box shows is kept while untouched.
    fine = open_dialog(qtbot, session, keys, Settings(turn_budget_usd=0.004))
    assert fine.updated_settings().turn_budget_usd == 0.004
    wait_idle(qtbot, none)
    wait_idle(qtbot, fine)


def test_render_three_endpoints(
    qtbot: QtBot, session: RoomSession, local_server: FakeOpenRouter
) -> None:
    settings = Settings(endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                                   Endpoint("local", LOCAL_URL),
                                   Endpoint("gateway", "http://gw.example.com/v1")],
                        turn_budget_usd=0.25)
    dialog = open_dialog(qtbot, session, KeyStore(environ={ENV_VAR: TEST_KEY}), settings,
                         base_url_override="http://127.0.0.1:8099/api/v1",
                         local_ports=[("Ollama", local_server.port)])
    select(dialog, "gateway")
    detect(qtbot, dialog)
    assert dialog.width() <= 900 and dialog.height() <= 700
    assert not dialog.grab().isNull()
