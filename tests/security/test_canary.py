"""The canary: a unique key used through a whole session, then looked for everywhere.

STYLE.md rule 12: secrets never print themselves. One real window saves the
canary through Settings, streams with it on three seats, fails in every way
the protocol allows, exports the rooms in every format and logs at DEBUG.
Then every file under the private config, data, cache, state and temp dirs
(sqlite and its -wal included), every log record as it was created, every
error and status text the user saw, the "Report a problem" clipboard and the
repr of every object that holds the key are searched: the canary may be in
the keyring and on the fake server's wire, nowhere else.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QListWidget, QPushButton, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from chatroom.core import paths
from chatroom.core.client import ChatClient
from chatroom.core.logs import LOG_NAME
from chatroom.core.room import ReplyState, Room
from chatroom.core.secrets import SERVICE, ApiKey, KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.main_window import MainWindow
from chatroom.ui.settings_dialog import MIN_READ_TIMEOUT_S, SettingsDialog
from tests.conftest import MemoryKeyring
from tests.fake_openrouter import FakeOpenRouter
from tests.security.canary import Canary, RecordTap
from tests.ui.conftest import WindowFactory, run_until_done
from tests.ui.test_main_window import send

TIMEOUT_MS = 20_000
GATEWAY = "gateway"  # a second endpoint whose port nobody listens on
SUCCESSES = ("fake/echo", "fake/lorem?rate=400", "fake/reasoning")
HTTP_FAILURES = ("fake/http-401", "fake/http-402", "fake/http-403", "fake/http-429?retry_after=0", "fake/http-500")
STREAM_FAILURES = ("fake/stall", "fake/midstream-error", "fake/drop", "fake/malformed")
DEAD_SEAT = "fake/utf8"  # seated on GATEWAY

T = TypeVar("T")
W = TypeVar("W", bound=QWidget)


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


def run(qtbot: QtBot, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    task = loop.create_task(coro)
    qtbot.waitUntil(task.done, timeout=TIMEOUT_MS)
    return task.result()


def named(parent: QWidget, kind: type[W], name: str) -> W:
    found = [w for w in parent.findChildren(kind) if w.accessibleName() == name]
    assert len(found) == 1, f"{len(found)} {kind.__name__} named {name!r}"
    return found[0]


def button(parent: QWidget, text: str) -> QPushButton:
    return next(b for b in parent.findChildren(QPushButton) if b.text() == text)


def in_settings(qtbot: QtBot, window: MainWindow, drive: Callable[[SettingsDialog], None]) -> None:
    """Open Edit > Settings as the user does (a modal exec) and let `drive` work in it.

    `drive` runs inside the dialog's own event loop; when it raises, the
    dialog is cancelled and the error raised here.
    """
    problems: list[BaseException] = []

    def work() -> None:
        dialog = window.findChildren(SettingsDialog)[-1]
        try:
            drive(dialog)
        except BaseException as exc:  # re-raised below, outside the dialog's loop
            problems.append(exc)
            dialog.reject()

    QTimer.singleShot(0, work)
    window.on_settings_triggered()
    if problems:
        raise problems[0]


def save_key_and_test(qtbot: QtBot, dialog: SettingsDialog, row: int, canary: Canary, expected: str) -> None:
    """Select endpoint `row`, paste the canary, save it, test the connection; wait for `expected`."""
    named(dialog, QListWidget, "Endpoints").setCurrentRow(row)
    key_edit = named(dialog, QLineEdit, "API key")
    status = named(dialog, QLabel, "Key status")
    connection = named(dialog, QLabel, "Connection status")
    save = button(dialog, "Save key")
    qtbot.waitUntil(save.isEnabled, timeout=TIMEOUT_MS)  # the keyring was asked about this endpoint
    qtbot.keyClicks(key_edit, canary.key)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status.text().startswith("Key saved."), timeout=TIMEOUT_MS)
    assert key_edit.text() == ""  # the field forgets the key once it is stored
    qtbot.mouseClick(button(dialog, "Test connection"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: connection.text().startswith(expected), timeout=TIMEOUT_MS)


def seat(window: MainWindow, endpoint: str, model: str) -> None:
    """Seat `model` on `endpoint` with the seat bar."""
    window.endpoint_combo.setCurrentText(endpoint)
    window.model_edit.setText(model)
    window.add_seat_button.click()


def wait_idle(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.session.is_busy, timeout=TIMEOUT_MS)


def state_of(window: MainWindow, model: str) -> ReplyState | None:
    return window.pane_for(model).state


def pane_texts(window: MainWindow) -> list[tuple[str, str]]:
    """Everything each pane shows: the reply, its error, status and metrics lines."""
    texts: list[tuple[str, str]] = []
    for pane in window.panes.values():
        for what, text in (
            ("reply view", pane.view.toPlainText()),
            ("reply html", pane.view.toHtml()),
            ("error label", pane.error_label.text()),
            ("status label", pane.status_label.text()),
            ("state label", pane.state_label.text()),
            ("metrics label", pane.metrics_label.full_text),
        ):
            texts.append((f"{what} of {pane.label}", text))
    return texts


def reply_errors(room: Room) -> list[tuple[str, str]]:
    return [
        (f"error of {seat_id} in turn {index}", reply.error or "")
        for index, turn in enumerate(room.turns)
        for seat_id, reply in turn.replies.items()
    ]


def export_all(qtbot: QtBot, window: MainWindow, folder: Path, name: str) -> None:
    assert window.history is not None
    for fmt in ("md", "json", "html"):
        path = folder / f"{name}.{fmt}"
        window.history.export_to(path, fmt)
        qtbot.waitUntil(path.exists, timeout=TIMEOUT_MS)


def save_keys_in_settings(qtbot: QtBot, window: MainWindow, canary: Canary) -> list[tuple[str, str]]:
    """Paste, save and test the canary for both endpoints in Settings; what the dialog showed."""
    shown: list[tuple[str, str]] = []

    def drive(dialog: SettingsDialog) -> None:
        save_key_and_test(qtbot, dialog, 0, canary, "Connected to")
        save_key_and_test(qtbot, dialog, 1, canary, "Cannot reach")
        named(dialog, QSpinBox, "Read timeout").setValue(MIN_READ_TIMEOUT_S)  # for fake/stall
        shown.extend(("settings dialog label", label.text()) for label in dialog.findChildren(QLabel))
        shown.extend(("settings dialog field", edit.text()) for edit in dialog.findChildren(QLineEdit))
        dialog.accept()

    in_settings(qtbot, window, drive)
    return shown


def stream_and_fail(qtbot: QtBot, window: MainWindow, exports: Path) -> list[tuple[str, str]]:
    """Two rounds: three seats stream while the others fail in every way; each room exported."""
    for model in (*SUCCESSES, *HTTP_FAILURES):
        seat(window, "openrouter", model)
    send(qtbot, window, "round one: tell me a secret")
    wait_idle(qtbot, window)
    assert [state_of(window, m) for m in SUCCESSES] == [ReplyState.DONE] * 3
    assert [state_of(window, m) for m in HTTP_FAILURES] == [ReplyState.FAILED] * 5
    shown = pane_texts(window)
    export_all(qtbot, window, exports, "round-one")
    shown += reply_errors(window.session.room)

    window.on_new_room_triggered()  # same seats, minus the HTTP failures, plus the others
    for model in HTTP_FAILURES:
        window.pane_for(model).remove_button.click()
    for model in STREAM_FAILURES:
        seat(window, "openrouter", model)
    seat(window, GATEWAY, DEAD_SEAT)
    send(qtbot, window, "round two: and another")
    wait_idle(qtbot, window)
    assert [state_of(window, m) for m in SUCCESSES] == [ReplyState.DONE] * 3
    for model in ("fake/stall", "fake/midstream-error", DEAD_SEAT):
        assert state_of(window, model) is ReplyState.FAILED, model
    assert state_of(window, "fake/drop") is ReplyState.INTERRUPTED
    assert "Cannot reach" in window.pane_for(DEAD_SEAT).error_label.text()
    export_all(qtbot, window, exports, "round-two")
    return shown + pane_texts(window) + reply_errors(window.session.room)


def reprs_of_key_holders(
    qtbot: QtBot, loop: asyncio.AbstractEventLoop, window: MainWindow, keys: KeyStore, canary: Canary
) -> list[tuple[str, str]]:
    """repr() of every object that holds the key, and of the key itself every way it can print."""
    key = keys.get("openrouter", window.settings.endpoint("openrouter").base_url)
    assert key is not None and key.reveal() == canary.key
    with pytest.raises(TypeError):
        pickle.dumps(key)
    pool = window.session.clients
    shown = [
        ("repr(KeyStore)", repr(keys)),
        ("repr(ApiKey)", repr(key)),
        ("str(ApiKey)", str(key)),
        ("format(ApiKey)", f"{key} {key!r} {key!s} %s %r" % (key, key)),
        ("repr(copy of ApiKey)", repr(copy.deepcopy(key))),
        ("repr(ClientPool)", repr(pool)),
        ("vars(ClientPool)", repr(vars(pool))),
        ("repr(RoomSession)", repr(window.session)),
        ("vars(RoomSession)", repr(vars(window.session))),
        ("repr(Settings)", repr(window.settings)),
        ("repr(MainWindow)", repr(window)),
    ]
    for name in ("openrouter", GATEWAY):
        client = run(qtbot, loop, pool.client_for(name))
        shown += [("repr(ChatClient)", repr(client)), ("vars(ChatClient)", repr(vars(client)))]
    return shown


@pytest.mark.usefixtures("private_tmp")
def test_canary_key_appears_nowhere(
    qtbot: QtBot,
    qt_loop: asyncio.AbstractEventLoop,
    make_window: WindowFactory,
    memory_keyring: MemoryKeyring,
    debug_log: Path,
    record_tap: RecordTap,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    canary: Canary,
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    with FakeOpenRouter(api_key=canary.key) as server:
        endpoints = [Endpoint("openrouter", server.base_url, None), Endpoint(GATEWAY, dead_url(), None)]
        keys = KeyStore(environ={})
        history = tmp_path / "history.sqlite3"
        window = make_window(settings=Settings(endpoints=endpoints), keys=keys, base_url="", history_path=history)
        statusbar: list[str] = []
        window.statusBar().messageChanged.connect(statusbar.append)
        seen = save_keys_in_settings(qtbot, window, canary)
        saved = {user: key for (service, user), key in memory_keyring.passwords.items() if service == SERVICE}
        assert saved == {"openrouter": canary.key, GATEWAY: canary.key}
        seen += stream_and_fail(qtbot, window, exports)
        QApplication.clipboard().clear()
        window.on_report_problem_triggered()  # Help > Report a problem: the redacted log
        report = QApplication.clipboard().text()
        assert "log lines" in report and " DEBUG " in report
        seen += [("Report a problem clipboard", report), ("banner", window.banner.text())]
        seen += reprs_of_key_holders(qtbot, qt_loop, window, keys, canary)
        files_while_open = canary.files_holding(tmp_path)  # the sqlite -wal is still there
        window.close()
        run_until_done(qtbot, qt_loop, window.session.aclose())
        assert window.session.history is not None
        window.session.history.close()
        chat_requests = server.chat_requests()

    # The canary did its job: it was the key on the wire, the log was at DEBUG, the files exist.
    assert chat_requests and all(r.headers.get("authorization") == f"Bearer {canary.key}" for r in chat_requests)
    records = record_tap.snapshot()
    assert any(r.logger == "httpx" for r in records) and any(r.logger.startswith("httpcore") for r in records)
    assert debug_log.name == LOG_NAME and " DEBUG " in debug_log.read_text(encoding="utf-8")
    written = [tmp_path / "settings.json", history, paths.models_cache_path(), debug_log]
    assert all(path.is_file() for path in written)
    exported = sorted(path.name for path in exports.iterdir())
    assert exported == [f"round-{n}.{fmt}" for n in ("one", "two") for fmt in ("html", "json", "md")]

    seen += [("status bar", message) for message in statusbar]
    seen += [(f"log record of {r.logger}", r.text) for r in records]
    seen += [(f"caplog record of {r.name}", f"{r.getMessage()} {r.args!r} {r.exc_text}") for r in caplog.records]
    files = sorted({*files_while_open, *canary.files_holding(tmp_path)})
    leaks = [f"file {path.relative_to(tmp_path)}" for path in files] + canary.places_holding(seen)
    assert leaks == []


def test_api_key_never_shows_itself(canary: Canary) -> None:
    key = ApiKey(canary.key)
    shown = [repr(key), str(key), f"{key}", f"{key!r}", "%s" % key, "{}".format(key), repr([key]), repr({"k": key})]
    assert canary.places_holding(("shown", text) for text in shown) == []
    assert repr(key) == "ApiKey(<hidden>)"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(key, protocol)
    assert copy.copy(key) is key and copy.deepcopy(key) is key


def test_key_store_and_client_reprs_hide_the_key(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, canary: Canary, memory_keyring: MemoryKeyring
) -> None:
    keys = KeyStore(environ={"OPENROUTER_API_KEY": canary.key})
    local = "http://127.0.0.1:9/v1"
    keys.set("local", canary.key, local)
    client = ChatClient(local, keys.get("local", local))
    try:
        shown = [repr(keys), repr(keys.get("openrouter", local)), repr(keys.get("local", local)), repr(client),
                 repr(vars(client))]
    finally:
        run(qtbot, qt_loop, client.aclose())
    assert canary.places_holding(("shown", text) for text in shown) == []
    assert "key=set" in repr(client)
