"""The main window against the fake server: streaming, stop, failures, history."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit, QPushButton
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState
from chatroom.core.secrets import KeyStore
from chatroom.core.settings import Endpoint, SavedSeat, Settings, load_settings
from chatroom.ui.main_window import FIRST_SIZE, MainWindow, first_size
from chatroom.ui.pane import ReplyPane
from tests.conftest import MemoryKeyring
from tests.fake_openrouter import FakeOpenRouter
from tests.ui.conftest import WindowFactory

TIMEOUT_MS = 15_000


def send(qtbot: QtBot, window: MainWindow, prompt: str) -> None:
    window.prompt_edit.setFocus()
    qtbot.keyClicks(window.prompt_edit, prompt)
    qtbot.keyClick(window.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def state_of(pane: ReplyPane) -> ReplyState | None:
    """The pane's state, read afresh (keeps mypy from narrowing across waits)."""
    return pane.state


def wait_idle(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.session.is_busy, timeout=TIMEOUT_MS)


def test_accessible_names_and_focus(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/echo", "fake/lorem"])
    assert window.windowTitle().startswith("Chatroom")
    assert window.prompt_edit.accessibleName() == "Prompt"
    # The widget that gets the keyboard when the window is activated.
    assert window.focusWidget() is window.prompt_edit
    names = {b.accessibleName() for b in window.findChildren(QPushButton)}
    assert {"Send", "Stop all"} <= names
    pane = window.pane_for("echo")
    assert pane.accessibleName() == "echo"
    assert pane.view.accessibleName() == "Reply from echo"
    assert pane.view.isReadOnly()


def test_three_seats_stream_concurrently(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    models = ["fake/lorem?rate=60", "fake/lorem?rate=70", "fake/lorem?rate=80"]
    window = make_window(models)
    window.params_panel.set_values({"max_tokens": 40})
    panes = [window.pane_for(m) for m in models]
    samples: list[tuple[int, ...]] = []
    window.session.text_added.connect(
        lambda *_: samples.append(tuple(len(p.reply_text()) for p in panes))
    )
    send(qtbot, window, "Tell me something long")
    wait_idle(qtbot, window)
    assert all(p.state is ReplyState.DONE for p in panes)
    assert all(len(p.reply_text().split()) == 40 for p in panes)
    # Interleaved, not one after another: at some moment every pane had part of its text.
    assert any(all(0 < n for n in sample) and min(sample) < 200 for sample in samples)


def test_stop_one_pane_while_others_finish(qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter) -> None:
    window = make_window(["fake/stall", "fake/echo", "fake/lorem?rate=400"])
    stall, echo, lorem = (window.pane_for(m) for m in ("fake/stall", "fake/echo", "fake/lorem?rate=400"))
    send(qtbot, window, "one two three")
    qtbot.waitUntil(lambda: stall.reply_text() != "", timeout=TIMEOUT_MS)
    assert stall.stop_button.isVisible()
    qtbot.mouseClick(stall.stop_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert stall.state is ReplyState.STOPPED
    assert stall.reply_text() != ""
    assert "[stopped" in stall.view.toPlainText()
    assert stall.retry_button.isVisible()
    assert echo.state is ReplyState.DONE and echo.reply_text().strip() == "one two three"
    assert lorem.state is ReplyState.DONE
    assert fake_server.wait_for_disconnect("fake/stall")


def test_stop_all_with_escape(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/stall", "fake/lorem?rate=20"])
    panes = [window.pane_for("fake/stall"), window.pane_for("fake/lorem?rate=20")]
    send(qtbot, window, "go")
    qtbot.waitUntil(lambda: all(p.reply_text() for p in panes), timeout=TIMEOUT_MS)
    assert window.stop_all_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    assert [p.state for p in panes] == [ReplyState.STOPPED, ReplyState.STOPPED]
    assert all(p.reply_text() for p in panes)
    assert window.send_button.isEnabled()


def test_429_fails_in_its_pane_only(qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter) -> None:
    window = make_window(["fake/http-429?retry_after=0", "fake/echo", "fake/lorem"])
    limited = window.pane_for("fake/http-429?retry_after=0")
    send(qtbot, window, "hello there")
    wait_idle(qtbot, window)
    assert limited.state is ReplyState.FAILED
    assert limited.error_label.isVisible()
    assert "Rate limited" in limited.error_label.text()
    assert window.pane_for("fake/echo").state is ReplyState.DONE
    assert window.pane_for("fake/lorem").state is ReplyState.DONE
    assert not window.pane_for("fake/echo").error_label.isVisible()
    # Retried twice before giving up: three requests in all.
    assert len([r for r in fake_server.chat_requests() if r.model == "fake/http-429?retry_after=0"]) == 3


def test_second_turn_sends_each_seat_its_own_history(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window(["fake/echo", "fake/lorem"])
    window.params_panel.set_values({"max_tokens": 5})
    send(qtbot, window, "first prompt")
    wait_idle(qtbot, window)
    lorem_first = window.pane_for("fake/lorem").reply_text()
    send(qtbot, window, "second prompt")
    wait_idle(qtbot, window)
    second = {r.model: r.body for r in fake_server.chat_requests()[2:]}
    assert second["fake/echo"]["messages"] == [
        {"role": "user", "content": "first prompt"},
        {"role": "assistant", "content": "first prompt"},
        {"role": "user", "content": "second prompt"},
    ]
    assert second["fake/lorem"]["messages"] == [
        {"role": "user", "content": "first prompt"},
        {"role": "assistant", "content": lorem_first},
        {"role": "user", "content": "second prompt"},
    ]
    # Both turns stay visible in the pane.
    assert "first prompt" in window.pane_for("fake/echo").view.toPlainText()


def test_failed_reply_left_out_of_history_and_retry(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window(["fake/echo"])
    fake_server.fail_next("fake/echo", 401)
    send(qtbot, window, "first")
    wait_idle(qtbot, window)
    pane = window.pane_for("fake/echo")
    assert state_of(pane) is ReplyState.FAILED
    assert "key was rejected" in pane.error_label.text()
    assert 'href="chatroom:settings"' in pane.error_label.text()  # the fix is one click away
    opened: list[str] = []
    window.on_settings_triggered = lambda: opened.append("settings")  # type: ignore[method-assign]
    pane.error_label.linkActivated.emit("chatroom:settings")
    assert opened == ["settings"]  # the link opens Settings (here: without the modal dialog)
    qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert state_of(pane) is ReplyState.DONE
    assert pane.reply_text().strip() == "first"
    assert "[failed]" not in pane.view.toPlainText()


def test_empty_prompt_is_not_sent(qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter) -> None:
    window = make_window(["fake/echo"])
    send(qtbot, window, "   ")
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    assert window.session.room.turns == []
    assert fake_server.chat_requests() == []


def test_enter_makes_a_new_line(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/echo"])
    qtbot.keyClicks(window.prompt_edit, "a")
    qtbot.keyClick(window.prompt_edit, Qt.Key.Key_Return)
    qtbot.keyClicks(window.prompt_edit, "b")
    assert window.prompt_edit.toPlainText() == "a\nb"
    assert window.session.room.turns == []


def test_add_and_remove_seats_from_the_seat_bar(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    for model in ("fake/echo", "fake/echo", "fake/lorem"):
        qtbot.keyClicks(window.model_edit, model)
        qtbot.keyClick(window.model_edit, Qt.Key.Key_Return)
    assert [p.label for p in window.panes.values()] == ["echo", "echo #2", "lorem"]
    qtbot.mouseClick(window.pane_for("echo #2").remove_button, Qt.MouseButton.LeftButton)
    assert [s.label for s in window.session.room.seats] == ["echo", "lorem"]
    assert window.settings.recent_models[:2] == ["fake/lorem", "fake/echo"]


def test_dead_endpoint_and_unknown_model(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["no/such-model"])
    send(qtbot, window, "hi")
    wait_idle(qtbot, window)
    assert "Model not found" in window.pane_for("no/such-model").error_label.text()


def test_close_while_streaming_cancels_cleanly(qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter) -> None:
    window = make_window(["fake/stall", "fake/lorem?rate=20"])
    send(qtbot, window, "go")
    qtbot.waitUntil(lambda: window.pane_for("fake/stall").reply_text() != "", timeout=TIMEOUT_MS)
    started = time.monotonic()
    window.close()
    qtbot.waitUntil(lambda: not window.session.is_busy, timeout=5000)
    assert time.monotonic() - started < 3
    assert fake_server.wait_for_disconnect("fake/stall")


def test_prompt_box_is_plain_text(make_window: WindowFactory) -> None:
    window = make_window()
    assert isinstance(window.prompt_edit, QPlainTextEdit)


def test_slider_spin_box_and_request_agree_at_the_bounds(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window(["fake/echo"])
    panel = window.params_panel
    panel.spin_box("temperature").setValue(2.0)  # type: ignore[attr-defined]
    panel.slider("frequency_penalty").setValue(panel.slider("frequency_penalty").minimum())
    panel.slider("top_p").setValue(panel.slider("top_p").minimum())
    assert panel.slider("temperature").value() == panel.slider("temperature").maximum()
    assert panel.spin_box("frequency_penalty").value() == -2.0  # type: ignore[attr-defined]
    send(qtbot, window, "bounds")
    wait_idle(qtbot, window)
    body = fake_server.chat_requests()[-1].body
    assert body["temperature"] == 2.0
    assert body["frequency_penalty"] == -2.0
    assert body["top_p"] == 0.0
    # Parameters left at their defaults are not sent.
    assert not {"presence_penalty", "top_k", "min_p", "max_tokens", "seed", "stop"} & body.keys()


def test_settings_survive_a_restart(qtbot: QtBot, make_window: WindowFactory, tmp_path: Path) -> None:
    window = make_window(["fake/echo", "fake/lorem"])
    window.params_panel.spin_box("temperature").setValue(0.3)  # type: ignore[attr-defined]
    window.params_panel.set_system_prompt("Be brief.")
    window.resize(700, 500)  # within the offscreen screen (800 x 600)
    window.close()
    saved = load_settings(tmp_path / "settings.json")
    assert saved.seats == [SavedSeat("fake/echo"), SavedSeat("fake/lorem")]
    assert saved.params == {"temperature": 0.3}
    assert saved.system_prompt == "Be brief."
    again = make_window(settings=saved)
    assert [s.model for s in again.session.room.seats] == ["fake/echo", "fake/lorem"]
    assert again.params_panel.values() == {"temperature": 0.3}
    assert again.params_panel.system_prompt() == "Be brief."
    assert again.size().width() == 700


def test_first_run_offers_a_local_server(
    qtbot: QtBot, make_window: WindowFactory, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    with FakeOpenRouter() as local:  # a local server needs no key
        window = make_window(keys=KeyStore(environ={}), base_url="")
        qtbot.waitUntil(lambda: window.welcome.isVisible(), timeout=TIMEOUT_MS)
        url = next(e for e in window.welcome.findChildren(QLineEdit) if e.accessibleName() == "Local server URL")
        qtbot.keyClicks(url, local.local_base_url)
        qtbot.keyClick(url, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not window.welcome.isVisible(), timeout=TIMEOUT_MS)
        assert window.endpoint_combo.currentText() == "local"
        qtbot.keyClicks(window.model_edit, "fake/echo")
        qtbot.keyClick(window.model_edit, Qt.Key.Key_Return)
        send(qtbot, window, "hello local")
        wait_idle(qtbot, window)
        pane = window.pane_for("fake/echo")
        assert pane.state is ReplyState.DONE and pane.reply_text() == "hello local"
        assert "authorization" not in local.chat_requests()[-1].headers
        window.close()
        saved = load_settings(tmp_path / "settings.json")
        assert saved.seats == [SavedSeat("fake/echo", "local")]
        assert saved.endpoint("local").base_url == local.local_base_url


def test_first_run_saves_a_pasted_key_in_the_keyring(
    qtbot: QtBot, make_window: WindowFactory, memory_keyring: MemoryKeyring
) -> None:
    window = make_window(keys=KeyStore(environ={}), base_url="")
    qtbot.waitUntil(lambda: window.welcome.isVisible(), timeout=TIMEOUT_MS)
    field = next(e for e in window.welcome.findChildren(QLineEdit) if e.accessibleName() == "OpenRouter API key")
    qtbot.keyClicks(field, "sk-or-v1-pasted")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.welcome.isVisible(), timeout=TIMEOUT_MS)
    # Bound to the address it was pasted for: the openrouter endpoint's saved URL (the fake server).
    assert memory_keyring.passwords == {
        ("chatroom", "openrouter"): "sk-or-v1-pasted",
        ("chatroom-key-origin", "openrouter"): window.settings.endpoint("openrouter").base_url.removesuffix("/api/v1"),
    }
    assert field.text() == ""


def test_no_keyring_on_first_run_says_how_to_fix_it(
    qtbot: QtBot, make_window: WindowFactory, no_keyring: None
) -> None:
    window = make_window(keys=KeyStore(environ={}), base_url="")
    qtbot.waitUntil(lambda: window.welcome.isVisible(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "OPENROUTER_API_KEY" in window.welcome.message(), timeout=TIMEOUT_MS)
    assert "keyring" in window.welcome.message()


def test_stall_drop_and_midstream_error_keep_partial_text(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window(
        ["fake/stall", "fake/drop", "fake/midstream-error", "fake/echo"],
        settings=Settings(read_timeout_s=0.5),
    )
    send(qtbot, window, "keep going please")
    wait_idle(qtbot, window)
    stall, drop, error, echo = (
        window.pane_for(m) for m in ("fake/stall", "fake/drop", "fake/midstream-error", "fake/echo")
    )
    assert state_of(stall) is ReplyState.FAILED
    assert "No data for 0.5 s" in stall.error_label.text()
    assert state_of(drop) is ReplyState.INTERRUPTED
    assert "closed before the reply was complete" in drop.error_label.text()
    assert drop.retry_button.isVisible()
    assert "[interrupted: partial reply]" in drop.view.toPlainText()
    assert state_of(error) is ReplyState.FAILED
    assert "Provider disconnected" in error.error_label.text()
    for pane in (stall, drop, error):
        assert pane.reply_text() != ""
    assert state_of(echo) is ReplyState.DONE


def test_dead_endpoint_says_it_cannot_reach_the_host(qtbot: QtBot, make_window: WindowFactory) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window = make_window(["fake/echo"], base_url=f"http://127.0.0.1:{port}/api/v1")
    send(qtbot, window, "anyone there?")
    wait_idle(qtbot, window)
    pane = window.pane_for("fake/echo")
    assert state_of(pane) is ReplyState.FAILED
    assert f"Cannot reach 127.0.0.1:{port}" in pane.error_label.text()
    assert "Traceback" not in pane.view.toPlainText() + pane.error_label.text()


def test_pane_says_when_it_will_retry(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/http-503?retry_after=1"])
    pane = window.pane_for("fake/http-503?retry_after=1")
    send(qtbot, window, "hello")
    qtbot.waitUntil(lambda: pane.status_label.text().startswith("retrying in 1 s"), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    assert state_of(pane) is ReplyState.FAILED
    assert pane.status_label.text() == ""
    assert "unavailable" in pane.error_label.text()


def test_new_room_while_streaming_starts_clean(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/lorem?rate=50", "fake/echo"])
    send(qtbot, window, "first room")
    lorem = window.pane_for("fake/lorem?rate=50")
    qtbot.waitUntil(lambda: lorem.reply_text() != "", timeout=TIMEOUT_MS)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.session.room.turns == []
    send(qtbot, window, "second room")  # at once: the old replies must not block it
    wait_idle(qtbot, window)
    echo = window.pane_for("fake/echo")
    assert echo.reply_text() == "second room"
    assert "first room" not in echo.view.toPlainText()
    assert "Lorem" in window.pane_for("fake/lorem?rate=50").reply_text()
    assert "first room" not in window.pane_for("fake/lorem?rate=50").view.toPlainText()


def test_seats_queue_behind_a_one_at_a_time_local_server(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    with FakeOpenRouter() as local:
        settings = Settings(
            endpoints=[Endpoint("openrouter", "https://openrouter.ai/api/v1"),
                       Endpoint("local", local.local_base_url)],
            seats=[SavedSeat("fake/lorem?rate=100", "local") for _ in range(3)],
            read_timeout_s=0.3,  # shorter than a queued seat waits: it must not run
            params={"max_tokens": 30},
        )
        assert settings.endpoint("local").max_concurrent == 1
        window = make_window(settings=settings)
        panes = list(window.panes.values())
        send(qtbot, window, "one at a time")
        qtbot.waitUntil(lambda: [state_of(p) for p in panes].count(ReplyState.QUEUED) == 2, timeout=TIMEOUT_MS)
        assert "queued" in panes[2].state_label.text()
        wait_idle(qtbot, window)
        assert [state_of(p) for p in panes] == [ReplyState.DONE] * 3
        # One request at a time: each began after the previous one's reply ended.
        starts = [r.received_at_s for r in local.chat_requests()]
        assert starts[1] - starts[0] > 0.25 and starts[2] - starts[1] > 0.25


def test_the_first_window_fits_a_small_screen() -> None:
    assert first_size(QSize(1920, 1050)) == FIRST_SIZE
    assert first_size(QSize(1366, 740)) == QSize(1200, 703)  # a laptop under its panel
    assert first_size(QSize(1024, 700)) == QSize(972, 665)


def test_a_first_start_on_a_real_screen_fits_its_free_area(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offscreen keeps FIRST_SIZE; as another platform its 800x800 screen is a small one.
    monkeypatch.setattr(QApplication, "platformName", staticmethod(lambda: "xcb"))
    window = make_window()
    available = window.screen().availableGeometry()
    assert window.width() <= available.width() and window.height() <= available.height()
