"""Earlier attempts in the window: a manual retry keeps the old reply, shown on request.

Real windows against the fake server, with a real history file: the dropped
or failed reply stays visible in a non-modal window, is stored, and comes
back after a restart. An automatic retry before the first token keeps nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from chatroom.core.room import Reply, ReplyState, SeatId
from chatroom.core.store import Store
from chatroom.ui.attempts_window import AttemptsWindow
from chatroom.ui.diff_view import DiffDialog
from chatroom.ui.main_window import MainWindow
from chatroom.ui.pane import ReplyPane
from tests.fake_openrouter import FakeOpenRouter
from tests.ui.conftest import WindowFactory
from tests.ui.test_history import close
from tests.ui.test_main_window import TIMEOUT_MS, send, state_of, wait_idle


def retry(qtbot: QtBot, window: MainWindow, pane: ReplyPane) -> None:
    """Press the pane's retry button and wait for the new reply to end."""
    qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
    assert window.session.is_busy  # the retry started at once
    wait_idle(qtbot, window)


def latest(window: MainWindow, pane: ReplyPane) -> Reply:
    reply = window.session.latest_reply(pane.seat_id)
    assert reply is not None
    return reply


def open_attempts(qtbot: QtBot, window: MainWindow, pane: ReplyPane) -> AttemptsWindow:
    qtbot.mouseClick(pane.attempts_button, Qt.MouseButton.LeftButton)
    attempts = window.attempt_windows.get(pane.seat_id)
    assert attempts is not None
    qtbot.waitExposed(attempts)
    return attempts


def listed(attempts: AttemptsWindow) -> list[str]:
    items = (attempts.attempt_list.item(row) for row in range(attempts.attempt_list.count()))
    return [item.text() for item in items if item is not None]


def test_a_dropped_reply_retried_by_hand_stays_visible_stored_and_reopened(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite3"
    window = make_window(["fake/drop"], history_path=db)
    pane = window.pane_for("fake/drop")
    send(qtbot, window, "tell me a story")
    wait_idle(qtbot, window)
    assert state_of(pane) is ReplyState.INTERRUPTED
    first_text = pane.reply_text()
    assert first_text and pane.attempts_button.isHidden()

    retry(qtbot, window, pane)

    assert state_of(pane) is ReplyState.INTERRUPTED
    assert (latest(window, pane).attempt, [a.text for a in latest(window, pane).attempts]) == (
        2, [first_text])
    assert pane.attempts_button.isVisible()
    assert pane.attempts_button.text() == "attempt 2 · show earlier"
    assert pane.attempts_button.accessibleName() == "Earlier attempts of drop"
    assert pane.view.toPlainText().count("[interrupted: partial reply]") == 1  # replaced in the pane

    attempts = open_attempts(qtbot, window, pane)
    assert not attempts.isModal() and QApplication.activeModalWidget() is None
    assert attempts.accessibleName() == "Earlier attempts of drop"
    assert listed(attempts) == ["Attempt 1 · interrupted", "Attempt 2 · interrupted · current"]
    assert attempts.view.accessibleName() == "Attempt 1 from drop"
    assert attempts.view.isReadOnly()
    qtbot.waitUntil(lambda: first_text in attempts.view.toPlainText(), timeout=TIMEOUT_MS)
    assert "tell me a story" in attempts.view.toPlainText()
    assert "closed before the reply was complete" in attempts.details_label.text()
    assert attempts.turn_combo.isHidden()  # one retried turn: nothing to choose
    attempts.attempt_list.setCurrentRow(1)
    assert attempts.view.accessibleName() == "Attempt 2 from drop"
    assert not attempts.compare_button.isEnabled()  # the current one compares with nothing
    send(qtbot, window, "the window stays open while the room goes on")
    wait_idle(qtbot, window)
    assert attempts.isVisible()
    assert pane.attempts_button.text() == "earlier attempts"
    room_id = window.session.room.id
    close(qtbot, qt_loop, window)

    with Store(db) as store:
        stored = store.load_room(room_id).turns[0].replies[SeatId("s1")]
    assert [(a.text, a.state) for a in stored.attempts] == [(first_text, ReplyState.INTERRUPTED)]

    again = make_window(history_path=db)
    qtbot.waitUntil(lambda: again.session.room.id == room_id, timeout=TIMEOUT_MS)
    reopened = again.pane_for("fake/drop")
    assert reopened.attempts_button.text() == "earlier attempts"
    attempts = open_attempts(qtbot, again, reopened)
    assert listed(attempts) == ["Attempt 1 · interrupted", "Attempt 2 · interrupted · current"]
    qtbot.waitUntil(lambda: first_text in attempts.view.toPlainText(), timeout=TIMEOUT_MS)
    assert again.history is not None
    panel = again.history.panel
    qtbot.keyClicks(panel.search_edit, first_text.split()[0])
    qtbot.waitUntil(lambda: panel.hit_count() >= 2, timeout=TIMEOUT_MS)
    labels = [label.text() for label in panel.tree.findChildren(QLabel)]
    assert any("drop, earlier attempt 1" in text for text in labels), labels


def test_an_automatic_retry_before_the_first_token_keeps_no_attempt(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter, tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite3"
    window = make_window(["fake/echo"], history_path=db)
    fake_server.fail_next("fake/echo", 503)  # the client retries it on its own
    send(qtbot, window, "second time lucky")
    wait_idle(qtbot, window)
    pane = window.pane_for("fake/echo")
    assert state_of(pane) is ReplyState.DONE
    assert len(fake_server.chat_requests()) == 2  # the failure, then the retry
    assert latest(window, pane).attempts == [] and latest(window, pane).attempt == 1
    assert pane.attempts_button.isHidden()
    assert window.session.history is not None
    room_id = window.session.room.id
    window.session.history.close()  # writes every queued save
    with Store(db) as store:
        stored = store.load_room(room_id).turns[0].replies[SeatId("s1")]
    assert (stored.text, stored.attempts) == ("second time lucky", [])


def test_attempts_of_several_turns_follow_retries_and_compare(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window(["fake/echo"])
    pane = window.pane_for("fake/echo")
    fake_server.fail_next("fake/echo", 401)  # not retried automatically
    send(qtbot, window, "first question")
    wait_idle(qtbot, window)
    retry(qtbot, window, pane)
    assert state_of(pane) is ReplyState.DONE
    attempts = open_attempts(qtbot, window, pane)
    assert listed(attempts) == ["Attempt 1 · failed", "Attempt 2 · done · current"]
    assert "key was rejected" in attempts.details_label.text()

    qtbot.mouseClick(attempts.compare_button, Qt.MouseButton.LeftButton)
    (diff,) = attempts.findChildren(DiffDialog)
    qtbot.waitExposed(diff)
    assert not diff.isModal()
    assert diff.windowTitle() == "Compare: attempt 1 ↔ attempt 2 (current)"
    diff.close()

    fake_server.fail_next("fake/echo", 401)
    send(qtbot, window, "second question")
    wait_idle(qtbot, window)
    assert pane.attempts_button.text() == "earlier attempts"
    retry(qtbot, window, pane)  # while the window is open: it follows
    assert attempts.turn_combo.isVisible()
    assert [attempts.turn_combo.itemText(i) for i in range(attempts.turn_combo.count())] == [
        "Turn 1: first question", "Turn 2: second question"]
    assert attempts.chosen() == (0, 1)  # the reader keeps their place
    assert pane.attempts_button.text() == "attempt 2 · show earlier"
    assert open_attempts(qtbot, window, pane) is attempts  # one window per seat, brought forward
    assert attempts.chosen() == (1, 1)  # at the turn the header spoke of
    qtbot.waitUntil(lambda: "second question" in attempts.view.toPlainText(), timeout=TIMEOUT_MS)
    attempts.turn_combo.setCurrentIndex(0)
    assert attempts.chosen() == (0, 1)
    qtbot.waitUntil(lambda: "first question" in attempts.view.toPlainText(), timeout=TIMEOUT_MS)

    window.on_new_room_triggered()  # another room: its windows go
    qtbot.waitUntil(lambda: window.attempt_windows.get(pane.seat_id) is None, timeout=TIMEOUT_MS)
    assert not attempts.isVisible()
