"""History in the window: saved as it streams, reopened, searched, exported, imported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from PySide6.QtWidgets import QLabel, QTreeWidgetItem
from pytestqt.qtbot import QtBot

from chatroom.core.export import to_json
from chatroom.core.room import ReplyState, Room
from chatroom.core.store import Store
from chatroom.ui.main_window import MainWindow
from tests.ui.conftest import WindowFactory, run_until_done
from tests.ui.test_main_window import TIMEOUT_MS, send, wait_idle


def close(qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, window: MainWindow) -> None:
    """Close as the app does: stop, drain the session, write every queued save."""
    window.close()
    run_until_done(qtbot, qt_loop, window.session.aclose())
    assert window.session.history is not None
    window.session.history.close()


def test_the_last_room_is_reopened(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite3"
    window = make_window(["fake/echo", "fake/lorem"], history_path=db)
    send(qtbot, window, "remember this please")
    wait_idle(qtbot, window)
    room_id = window.session.room.id
    close(qtbot, qt_loop, window)

    again = make_window(history_path=db)  # no models: the last room comes back
    qtbot.waitUntil(lambda: again.session.room.id == room_id, timeout=TIMEOUT_MS)
    assert [s.model for s in again.session.room.seats] == ["fake/echo", "fake/lorem"]
    echo = again.pane_for("fake/echo")
    assert "remember this please" in echo.view.toPlainText()
    assert echo.reply_text() == "remember this please"
    assert echo.state is ReplyState.DONE
    assert "TTFT" in echo.metrics_label.full_text


def first_hit(qtbot: QtBot, window: MainWindow, query: str) -> QTreeWidgetItem:
    """Type `query` in the history's search box, as a user would; its first result."""
    assert window.history is not None
    panel = window.history.panel
    shown = panel.tree.topLevelItem(0)  # rooms, or the results of an earlier search
    qtbot.keyClicks(panel.search_edit, query)
    qtbot.waitUntil(
        lambda: panel.hit_count() >= 1 and panel.tree.topLevelItem(0) is not shown, timeout=TIMEOUT_MS
    )
    item = panel.tree.topLevelItem(0)
    assert item is not None
    return item


def test_search_opens_the_right_room(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    window = make_window(["fake/echo"], history_path=tmp_path / "h.sqlite3")
    send(qtbot, window, "apples and bananas")
    wait_idle(qtbot, window)
    first = window.session.room.id
    window.on_new_room_triggered()
    send(qtbot, window, "cherries only")
    wait_idle(qtbot, window)
    item = first_hit(qtbot, window, "bananas")
    assert window.history is not None
    panel = window.history.panel
    snippet = panel.tree.itemWidget(item, 0)
    assert isinstance(snippet, QLabel) and "<b" in snippet.text()
    panel.on_tree_item_activated(item)
    qtbot.waitUntil(lambda: window.session.room.id == first, timeout=TIMEOUT_MS)
    assert "apples and bananas" in window.pane_for("fake/echo").view.toPlainText()


def test_export_and_import(qtbot: QtBot, make_window: WindowFactory, tmp_path: Path) -> None:
    window = make_window(["fake/echo", "fake/reasoning"], history_path=tmp_path / "h.sqlite3")
    send(qtbot, window, "export me <script>alert(1)</script>")
    wait_idle(qtbot, window)
    assert window.history is not None
    for fmt in ("md", "json", "html"):
        out = tmp_path / f"room.{fmt}"
        window.history.export_to(out, fmt)
        qtbot.waitUntil(out.exists, timeout=TIMEOUT_MS)
    html_text = (tmp_path / "room.html").read_text()
    assert "<script>" not in html_text and "export me" in html_text
    document = json.loads((tmp_path / "room.json").read_text())
    assert document["format"] == "chatroom.transcript"

    old_id = window.session.room.id
    window.history.import_from(tmp_path / "room.json")
    qtbot.waitUntil(lambda: window.session.room.id != old_id, timeout=TIMEOUT_MS)
    assert window.session.room.turns[0].prompt.startswith("export me")


def test_a_broken_transcript_imports_nothing(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    window = make_window(["fake/echo"], history_path=tmp_path / "h.sqlite3")
    bad = tmp_path / "bad.json"
    bad.write_text(to_json(Room()).replace('"version": 1', '"version": 99'))
    room_id = window.session.room.id
    assert window.history is not None
    window.history.import_from(bad)
    qtbot.waitUntil(lambda: "newer Chatroom" in window.statusBar().currentMessage(), timeout=TIMEOUT_MS)
    assert window.session.room.id == room_id


def test_history_that_cannot_be_saved_shows_a_banner_and_streaming_goes_on(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data folder should be")
    window = make_window(["fake/echo"], history_path=blocker / "chatroom.sqlite3")
    send(qtbot, window, "still works")
    wait_idle(qtbot, window)
    assert window.pane_for("fake/echo").reply_text() == "still works"
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=TIMEOUT_MS)
    assert "History cannot be saved" in window.banner.text()


def test_a_streaming_reply_is_saved_within_a_second(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    db = tmp_path / "h.sqlite3"
    window = make_window(["fake/lorem?rate=100"], settings=None, history_path=db)
    window.params_panel.set_values({"max_tokens": 400})
    send(qtbot, window, "long")
    pane = window.pane_for("fake/lorem?rate=100")
    qtbot.waitUntil(lambda: len(pane.reply_text()) > 300, timeout=TIMEOUT_MS)
    qtbot.wait(1300)  # one save interval and a margin

    def saved_text() -> str:
        store = Store(db)
        try:
            return store.load_room(window.session.room.id).turns[0].replies[
                window.session.room.seats[0].id
            ].text
        finally:
            store.close()

    assert len(saved_text()) > 300
    window.stop_all_button.click()
    wait_idle(qtbot, window)


def test_a_damaged_history_is_set_aside_and_a_new_one_started(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    db = tmp_path / "chatroom.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    window = make_window(history_path=db)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=TIMEOUT_MS)
    assert "damaged" in window.banner.text() and "moved to" in window.banner.text()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("chatroom.sqlite3.corrupt")]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    store = Store(db)  # the new, empty history
    assert store.list_rooms() == []
    store.close()


def test_a_5_mb_prompt_is_stored_and_exported_intact(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    db = tmp_path / "h.sqlite3"
    window = make_window(["fake/http-400"], history_path=db)
    prompt = ("A long pasted document line. " * 40 + "\n") * 4300  # about 5 MB
    window.prompt_edit.setPlainText(prompt)
    window.on_send_button_clicked()
    wait_idle(qtbot, window)
    room_id = window.session.room.id
    assert window.history is not None
    out = tmp_path / "big.json"
    window.history.export_to(out, "json")
    qtbot.waitUntil(out.exists, timeout=TIMEOUT_MS)
    close(qtbot, qt_loop, window)
    assert json.loads(out.read_text())["turns"][0]["prompt"] == prompt
    store = Store(db)
    assert store.load_room(room_id).turns[0].prompt == prompt
    store.close()
