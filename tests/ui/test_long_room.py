"""A long room in the window: the panes show its last turns; the room and the store keep them all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from chatroom.core.store import Store
from chatroom.ui import shown_turns
from chatroom.ui.main_window import MainWindow
from chatroom.ui.reply_view import SHOW_ALL_LINK
from tests.ui.conftest import WindowFactory
from tests.ui.test_history import close, first_hit
from tests.ui.test_main_window import TIMEOUT_MS, send, wait_idle
from tests.ui.test_reply_view import click_link

MODELS = ["fake/echo", "fake/lorem?rate=200"]


@pytest.fixture(autouse=True)
def three_shown_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three turns instead of 30, so that a few quick turns pass the limit."""
    monkeypatch.setattr(shown_turns, "MAX_SHOWN_TURNS", 3)


def send_turns(qtbot: QtBot, window: MainWindow, numbers: range) -> None:
    for n in numbers:
        send(qtbot, window, f"question {n}")
        wait_idle(qtbot, window)


def shown_questions(window: MainWindow, model: str) -> list[str]:
    text = window.pane_for(model).view.toPlainText()
    return list(dict.fromkeys(line for line in text.splitlines() if line.startswith("question ")))


def test_the_panes_show_the_last_turns_and_show_all_brings_back_the_rest(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite3"
    window = make_window(MODELS, history_path=db)
    send_turns(qtbot, window, range(1, 6))
    for model in MODELS:
        view = window.pane_for(model).view
        assert view.hidden_turns == 2
        assert view.toPlainText().startswith("2 earlier turns are not shown — Show all\n\nquestion 3\n")
        assert shown_questions(window, model) == ["question 3", "question 4", "question 5"]
    echo = window.pane_for("fake/echo")
    assert echo.reply_text() == "question 5"
    # The room keeps every turn: what the models get, the comparison, the export.
    assert [turn.prompt for turn in window.session.room.turns] == [f"question {n}" for n in range(1, 6)]
    out = tmp_path / "room.md"
    assert window.history is not None
    window.history.export_to(out, "md")
    qtbot.waitUntil(out.exists, timeout=TIMEOUT_MS)
    assert "question 1" in out.read_text()

    click_link(qtbot, echo.view, SHOW_ALL_LINK)
    everything = [f"question {n}" for n in range(1, 6)]
    for model in MODELS:  # every pane, so that panes scrolled together stay level
        assert window.pane_for(model).view.hidden_turns == 0
        assert shown_questions(window, model) == everything
    assert echo.view.toPlainText().startswith("question 1\nquestion 1\nCopy reply\n\nquestion 2\n")

    send_turns(qtbot, window, range(6, 7))  # the next turn shows the last three again
    assert echo.view.hidden_turns == 3
    assert shown_questions(window, "fake/echo") == ["question 4", "question 5", "question 6"]
    room_id = window.session.room.id
    close(qtbot, qt_loop, window)
    with Store(db) as store:
        assert [turn.prompt for turn in store.load_room(room_id).turns] == [f"question {n}" for n in range(1, 7)]


def test_a_reopened_long_room_shows_its_last_turns_and_can_show_all(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite3"
    window = make_window(MODELS, history_path=db)
    send_turns(qtbot, window, range(1, 7))
    room_id = window.session.room.id
    close(qtbot, qt_loop, window)

    again = make_window(history_path=db)  # no models: the last room comes back
    qtbot.waitUntil(lambda: again.session.room.id == room_id, timeout=TIMEOUT_MS)
    echo = again.pane_for("fake/echo")
    assert echo.view.toPlainText().startswith("3 earlier turns are not shown — Show all\n\nquestion 4\n")
    assert echo.reply_text() == "question 6"
    click_link(qtbot, echo.view, SHOW_ALL_LINK)
    for model in MODELS:
        assert shown_questions(again, model) == [f"question {n}" for n in range(1, 7)]


def test_a_reader_of_older_text_keeps_their_place_while_a_reply_streams(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window(MODELS)
    window.params_panel.set_values({"max_tokens": 200})
    send_turns(qtbot, window, range(1, 5))
    window.params_panel.set_values({"max_tokens": 600})
    send(qtbot, window, "question 5")
    lorem = window.pane_for("fake/lorem?rate=200")
    bar = lorem.view.verticalScrollBar()
    qtbot.waitUntil(lambda: len(lorem.reply_text()) > 100 and bar.maximum() > 0, timeout=TIMEOUT_MS)
    bar.setValue(0)  # back to the note and the oldest shown turn
    top = lorem.view.cursorForPosition(QPoint(0, 0)).block().text()
    assert top.startswith("2 earlier turns are not shown")
    wait_idle(qtbot, window)
    assert len(lorem.reply_text().split()) == 600
    assert bar.value() == 0 < bar.maximum()
    assert lorem.view.cursorForPosition(QPoint(0, 0)).block().text() == top
    assert lorem.view.hidden_turns == 2  # hidden at a new turn only, never under the reader


def test_a_1_mb_reply_is_shown_whole_and_stays_for_the_next_turn(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/huge?kb=1024"])
    pane = window.pane_for("fake/huge?kb=1024")
    send_turns(qtbot, window, range(1, 2))
    qtbot.waitUntil(lambda: pane.view.is_rendered, timeout=TIMEOUT_MS)
    whole = window.session.room.turns[0].replies[pane.seat_id].text
    assert len(whole) == 1024 * 1024
    text = pane.view.toPlainText()
    paragraphs = whole.split("\n\n")
    assert paragraphs[0] in text and paragraphs[-1].strip() in text and len(text) > 0.99 * len(whole)
    send(qtbot, window, "question 2")  # the turn it follows is always shown
    assert pane.view.hidden_turns == 0 and pane.view.toPlainText().startswith(text)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: pane.view.is_rendered, timeout=TIMEOUT_MS)
    send(qtbot, window, "question 3")  # now it is over the budget
    assert pane.view.hidden_turns == 1
    wait_idle(qtbot, window)


def test_a_search_hit_opens_its_room_at_the_turn_even_a_hidden_one(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    window = make_window(MODELS, history_path=tmp_path / "history.sqlite3")
    send_turns(qtbot, window, range(1, 7))
    room_id = window.session.room.id
    window.on_new_room_triggered()
    item = first_hit(qtbot, window, '"question 2"')
    assert window.history is not None
    window.history.panel.on_tree_item_activated(item)
    qtbot.waitUntil(lambda: window.session.room.id == room_id, timeout=TIMEOUT_MS)

    def at_top(model: str) -> str:
        view = window.pane_for(model).view
        return view.cursorForPosition(QPoint(4, 4)).block().text()

    for model in MODELS:
        view = window.pane_for(model).view
        qtbot.waitUntil(lambda view=view: view.hidden_turns == 0, timeout=TIMEOUT_MS)  # type: ignore[misc]
    # The lorem pane is taller than its view: the turn is at its top. (The
    # echo pane's few lines fit, and it has nothing to scroll.)
    lorem = "fake/lorem?rate=200"
    qtbot.waitUntil(lambda: at_top(lorem) == "question 2", timeout=TIMEOUT_MS)
    for model in MODELS:  # the matched word is selected in the turn, in every pane that shows it
        cursor = window.pane_for(model).view.textCursor()
        assert (cursor.selectedText(), cursor.block().text()) == ("question 2", "question 2")
    # A hit in the room already open scrolls its panes without reopening it.
    opened = window.session.room
    window.history.panel.search_edit.clear()
    window.history.panel.on_tree_item_activated(first_hit(qtbot, window, '"question 3"'))
    assert window.session.room is opened
    assert at_top(lorem) == "question 3"


def test_showing_every_turn_shows_a_wait_cursor_meanwhile(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(MODELS)
    send_turns(qtbot, window, range(1, 6))
    cursors: list[object] = []
    pane = window.pane_for("fake/echo")
    show_all = type(pane).show_all

    def noting_show_all(self: object, turns: object) -> None:
        cursor = QApplication.overrideCursor()
        cursors.append(None if cursor is None else cursor.shape())
        show_all(self, turns)  # type: ignore[arg-type]

    monkeypatch.setattr(type(pane), "show_all", noting_show_all)
    window.on_pane_show_all_requested(str(pane.seat_id))
    assert cursors == [Qt.CursorShape.WaitCursor] * len(MODELS)
    assert QApplication.overrideCursor() is None  # and it is gone after


def test_going_to_a_turn_with_scrolling_synced_puts_it_at_the_top_of_every_pane(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    # Two panes of different lengths: synced by fraction, the last one
    # scrolled would drag the first away from its turn.
    models = ["fake/huge?kb=3&chunk=1024&rate=1000", "fake/huge?kb=6&chunk=1024&rate=1000"]
    window = make_window(models)
    window.pane_area.set_synced_scrolling(True)
    send_turns(qtbot, window, range(1, 5))
    views = [window.pane_for(model).view for model in models]
    qtbot.waitUntil(lambda: all(view.is_rendered for view in views), timeout=TIMEOUT_MS)
    window.go_to_turn(0)  # a hidden turn: every turn is rendered again first
    assert [view.cursorForPosition(QPoint(4, 4)).block().text() for view in views] == ["question 1"] * 2
    window.go_to_turn(2)
    assert [view.cursorForPosition(QPoint(4, 4)).block().text() for view in views] == ["question 3"] * 2
    assert window.pane_area.is_synced()  # and scrolling stays synced afterwards
