"""Comparing models in the window: catalogue, own settings, metrics, cost, layouts, diff."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.diff_view import DiffDialog
from chatroom.ui.main_window import MainWindow
from chatroom.ui.model_picker import ModelPicker
from tests.fake_openrouter import FakeOpenRouter
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import TIMEOUT_MS, send, wait_idle

GPT = "openai/gpt-4o-mini"  # the fake catalogue lists no top_k for it
HAIKU = "anthropic/claude-3.5-haiku"  # lists top_k


def with_catalogue(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: "openrouter" in window.session.catalogs, timeout=TIMEOUT_MS)


def last_bodies(server: FakeOpenRouter, count: int) -> list[dict[str, object]]:
    return [r.body for r in server.chat_requests()[-count:]]


def test_unsupported_parameters_are_not_sent(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window([GPT, HAIKU])
    with_catalogue(qtbot, window)
    window.params_panel.spin_box("top_k").setValue(40)  # type: ignore[attr-defined]
    send(qtbot, window, "hello")
    wait_idle(qtbot, window)
    bodies = {b["model"]: b for b in last_bodies(fake_server, 2)}
    assert "top_k" not in bodies[GPT]
    assert bodies[HAIKU]["top_k"] == 40


def test_the_same_model_twice_with_different_temperatures(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window([HAIKU, HAIKU])
    first, second = window.session.room.seats
    window.session.room.set_overrides(first.id, {"temperature": 0.2})
    window.session.room.set_overrides(second.id, {"temperature": 1.5})
    for seat in (first, second):
        window.panes[seat.id].set_seat(seat)
    assert [p.label for p in window.panes.values()] == ["claude-3.5-haiku · t=0.2", "claude-3.5-haiku · t=1.5"]
    send(qtbot, window, "hello")
    wait_idle(qtbot, window)
    assert sorted(b["temperature"] for b in last_bodies(fake_server, 2)) == [0.2, 1.5]  # type: ignore[type-var]
    window.close()
    saved = window.settings.seats
    assert [s.params for s in saved] == [{"temperature": 0.2}, {"temperature": 1.5}]


def test_metrics_cost_and_comparison(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window([GPT, HAIKU, "fake/lorem?rate=200"])
    with_catalogue(qtbot, window)
    # The echoing seats send a word every 2 ms: 21 words span 40 ms, enough for a
    # rate (metrics.MIN_RATE_SPAN_S); a 4-word echo arrives too fast to have one.
    prompt = "How are you today? Tell me in a few short words how the weather is where you are right now."
    qtbot.keyClicks(window.prompt_edit, prompt)
    qtbot.waitUntil(lambda: window.cost_label.text().startswith("≈ $"), timeout=TIMEOUT_MS)
    send(qtbot, window, "")
    wait_idle(qtbot, window)
    for pane in window.panes.values():
        assert pane.state is ReplyState.DONE
        line = pane.metrics_label.full_text
        assert "TTFT" in line and "tok/s" in line and "$" in line, line
    strip = window.comparison.plain_text()
    assert window.comparison.isVisible()
    for title in ("First token:", "Speed:", "Length:", "Cost:"):
        assert title in strip


def test_over_budget_asks_first(qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter) -> None:
    settings = Settings(
        endpoints=[Endpoint("openrouter", fake_server.base_url, None)], turn_budget_usd=0.000001
    )
    window = make_window([HAIKU], settings=settings)
    with_catalogue(qtbot, window)
    questions: list[str] = []

    def refuse(title: str, text: str) -> bool:
        questions.append(text)
        return False

    window.confirm = refuse
    send(qtbot, window, "an expensive question")
    assert questions and "over your budget" in questions[0]
    assert window.session.room.turns == [] and fake_server.chat_requests() == []
    window.confirm = lambda title, text: True
    window.on_send_button_clicked()
    wait_idle(qtbot, window)
    assert len(fake_server.chat_requests()) == 1


def test_picker_adds_a_seat_from_the_catalogue(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    with_catalogue(qtbot, window)

    def choose() -> None:
        picker = QApplication.activeModalWidget()
        assert isinstance(picker, ModelPicker)
        qtbot.keyClicks(picker.filter_edit(), "claude haiku")
        qtbot.keyClick(picker.filter_edit(), "\r")

    QTimer.singleShot(200, choose)
    window.on_browse_button_clicked()
    assert [s.model for s in window.session.room.seats] == [HAIKU]


def test_a_model_missing_from_the_catalogue_is_marked(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["gone/model", "fake/echo"])
    with_catalogue(qtbot, window)
    assert window.pane_for("gone/model").catalogue_label.text() == "not in catalogue"
    assert window.pane_for("fake/echo").catalogue_label.isHidden()


def test_layouts_and_maximise(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/echo", "fake/lorem", "fake/reasoning"])
    window._set_layout("tabs")
    assert window.pane_area.mode() == "tabs" and window.settings.layout == "tabs"
    window._set_layout("grid")
    pane = window.pane_for("fake/echo")
    qtbot.mouseDClick(pane.header, Qt.MouseButton.LeftButton)
    assert window.pane_area.maximised() is pane
    qtbot.mouseDClick(pane.header, Qt.MouseButton.LeftButton)
    assert window.pane_area.maximised() is None


def test_compare_two_replies(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/echo", "fake/lorem"])
    send(qtbot, window, "lorem ipsum dolor sit amet")
    wait_idle(qtbot, window)
    window.on_compare_triggered()
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, DiffDialog) and w.isVisible()]
    assert len(dialogs) == 1
    similarity = next(
        label for label in dialogs[0].findChildren(QLabel) if label.accessibleName() == "Similarity"
    )
    assert similarity.text().startswith("Similarity:") and "%" in similarity.text()
    dialogs[0].close()


def test_reasoning_shows_collapsed_above_the_answer(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(["fake/reasoning"])
    send(qtbot, window, "think")
    wait_idle(qtbot, window)
    text = window.pane_for("fake/reasoning").view.toPlainText()
    assert "Reasoning (" in text and "The answer is 42." in text
    assert text.index("Reasoning (") < text.index("The answer is 42.")
    assert "Let me think" not in text  # collapsed


def test_rerun_every_prompt_of_the_room(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    window = make_window(["fake/echo"])
    for prompt in ("one", "two", "three"):
        send(qtbot, window, prompt)
        wait_idle(qtbot, window)
    old_room = window.session.room.id
    window.on_rerun_room_triggered()
    qtbot.waitUntil(lambda: len(window.session.room.turns) == 3 and not window.session.is_busy, timeout=TIMEOUT_MS)
    assert window.session.room.id != old_room
    assert [t.prompt for t in window.session.room.turns] == ["one", "two", "three"]
    # The re-run builds its own thread: the third request carries the new first two turns.
    assert [m["content"] for m in fake_server.chat_requests()[-1].body["messages"]] == [
        "one", "one", "two", "two", "three"
    ]


def test_the_comparison_strip_is_never_cut_off(qtbot: QtBot, make_window: WindowFactory) -> None:
    # Four seats with long labels in a small window: each ranking wraps over
    # several lines, and the composer grows to show every one of them.
    window = make_window([GPT, HAIKU, "fake/lorem?rate=500&max_tokens=30", "fake/reasoning"])
    window.resize(900, 600)
    with_catalogue(qtbot, window)
    send(qtbot, window, "How are you today? Tell me in a few short words how the weather is where you are.")
    wait_idle(qtbot, window)
    strip = window.comparison
    qtbot.waitUntil(strip.isVisible, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: strip.height() >= strip.heightForWidth(strip.width()), timeout=TIMEOUT_MS)
    assert strip.heightForWidth(strip.width()) > 5 * strip.fontMetrics().lineSpacing()  # it did wrap
    assert window.prompt_edit.height() >= window.prompt_edit.minimumSizeHint().height()
