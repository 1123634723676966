"""Faults after the stream began: stalls, error chunks, drops, broken and split chunks.

Text has arrived in each of these, so none may be retried on its own (one
request per seat), and whatever arrived stays in the pane, marked, and in the
history.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState
from chatroom.core.settings import Settings
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import ReplyPlan, parse_model_id, plan_reply
from tests.reliability.harness import (
    TIMEOUT_MS,
    PaneRecorder,
    assert_saved_as_shown,
    chats_for,
    close_and_save,
    run_turn,
)
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import send, wait_idle

PROMPT = "keep going please"


def planned_text(model: str) -> str:
    """The whole text the fake server plans for `model` (what a clean stream would give)."""
    plan = plan_reply(parse_model_id(model), {"messages": [{"role": "user", "content": PROMPT}]}, is_listed=True)
    assert isinstance(plan, ReplyPlan)
    return "".join(plan.content)


def test_a_stall_fails_after_the_configured_read_timeout_keeping_the_text(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite3"
    window = make_window(["fake/stall", "fake/echo"], settings=Settings(read_timeout_s=0.6), history_path=db)
    stall = window.pane_for("fake/stall")
    send(qtbot, window, PROMPT)
    qtbot.waitUntil(lambda: stall.reply_text() != "", timeout=TIMEOUT_MS)
    text_at = time.monotonic()
    wait_idle(qtbot, window)
    waited_s = time.monotonic() - text_at
    assert stall.state is ReplyState.FAILED
    assert "No data for 0.6 s" in stall.error_label.text()  # the configured timeout, not 120 s
    assert "can be changed in Settings" in stall.error_label.text()
    assert 0.5 <= waited_s < 2.0
    assert stall.reply_text() == planned_text("fake/stall")
    assert "[failed]" in stall.view.toPlainText()
    assert len(chats_for(fake_server, "fake/stall")) == 1
    assert fake_server.wait_for_disconnect("fake/stall")  # the request was closed, not left hanging
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)


def test_an_error_chunk_mid_stream_fails_with_the_providers_message_keeping_the_text(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite3"
    window, _ = run_turn(qtbot, make_window, db, ["fake/midstream-error", "fake/echo"], PROMPT)
    failed = window.pane_for("fake/midstream-error")
    assert failed.state is ReplyState.FAILED
    assert "Provider disconnected" in failed.error_label.text()  # the provider's own words
    assert failed.reply_text() == planned_text("fake/midstream-error")
    assert "[failed]" in failed.view.toPlainText()
    assert len(chats_for(fake_server, "fake/midstream-error")) == 1
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    close_and_save(qtbot, qt_loop, window)
    room = assert_saved_as_shown(db, window)
    saved = room.turns[0].replies[failed.seat_id]
    assert saved.error is not None and "Provider disconnected" in saved.error


def test_a_stream_closed_without_done_is_interrupted_keeps_its_text_and_can_be_retried(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite3"
    cut, ended = "fake/drop", "fake/drop?clean=1"  # mid-body; a clean end without [DONE]
    window, _ = run_turn(qtbot, make_window, db, [cut, ended, "fake/echo"], PROMPT)
    for model in (cut, ended):
        pane = window.pane_for(model)
        assert pane.state is ReplyState.INTERRUPTED, model
        assert "closed before the reply was complete" in pane.error_label.text()
        assert pane.reply_text() == planned_text(model)
        assert "[interrupted: partial reply]" in pane.view.toPlainText()
        assert pane.retry_button.isVisible()
        assert len(chats_for(fake_server, model)) == 1, model
    assert window.pane_for("fake/echo").state is ReplyState.DONE

    pane = window.pane_for(cut)
    recorder = PaneRecorder(window)
    qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert recorder.states[pane.label][-1] is ReplyState.INTERRUPTED
    assert ReplyState.STREAMING in recorder.states[pane.label]  # it really streamed again
    assert len(chats_for(fake_server, cut)) == 2
    close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)


def test_malformed_json_in_one_chunk_fails_that_pane_only(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite3"
    window, _ = run_turn(qtbot, make_window, db, ["fake/malformed", "fake/echo", "fake/lorem"], PROMPT)
    broken = window.pane_for("fake/malformed")
    assert broken.state is ReplyState.FAILED
    assert "Malformed response" in broken.error_label.text()
    assert broken.reply_text() == planned_text("fake/malformed").split(" ")[0] + " "  # what came before
    assert "[failed]" in broken.view.toPlainText()
    assert len(chats_for(fake_server, "fake/malformed")) == 1
    assert window.pane_for("fake/echo").reply_text() == PROMPT
    assert window.pane_for("fake/lorem").reply_text() == planned_text("fake/lorem")
    assert all(window.pane_for(m).state is ReplyState.DONE for m in ("fake/echo", "fake/lorem"))
    close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)


def test_multibyte_utf8_split_across_chunks_arrives_intact(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    db = tmp_path / "h.sqlite3"
    window = make_window(["fake/utf8", "fake/echo"], history_path=db)
    window.prompt_edit.setPlainText("naïve café 😀")  # QTest cannot type an emoji
    qtbot.keyClick(window.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    pane = window.pane_for("fake/utf8")
    expected = planned_text("fake/utf8")
    assert expected == "déjà vu — 日本語 🎉"
    assert pane.state is ReplyState.DONE
    assert pane.reply_text() == expected
    assert "\ufffd" not in pane.view.toPlainText()  # no replacement character anywhere
    assert window.pane_for("fake/echo").reply_text() == "naïve café 😀"
    close_and_save(qtbot, qt_loop, window)
    room = assert_saved_as_shown(db, window)
    assert room.turns[0].replies[pane.seat_id].text == expected
    assert room.turns[0].prompt == "naïve café 😀"
