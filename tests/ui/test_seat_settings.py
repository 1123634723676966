"""SeatSettingsDialog: overrides against the room, supported parameters, recommended values."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from chatroom.core.catalog import ModelInfo, Recommended
from chatroom.core.errors import NetworkError
from chatroom.core.params import ParamValue
from chatroom.core.room import Room
from chatroom.core.secrets import KeyStore
from chatroom.ui.seat_settings import LOADING_NOTE, NOT_OFFERED_NOTE, SeatSettingsDialog
from chatroom.ui.session import ClientPool, RoomSession

# The offscreen platform says this on every first show(); it is not our bug.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")

TIMEOUT_MS = 10_000
W = TypeVar("W", bound=QWidget)

HAIKU = ModelInfo(
    id="anthropic/claude-3.5-haiku",
    name="Anthropic: Claude 3.5 Haiku",
    endpoint="openrouter",
    supported_parameters=frozenset({"temperature", "top_p", "max_tokens", "stop"}),
)
TOP_K_TIP = "claude-3.5-haiku does not list top_k in its supported parameters; it is not sent."
PERCENTILES = {"temperature": (0.2, 0.7, 1.0), "top_p": (0.9, 0.95, 1.0), "top_k": (0.0, 40.0, 100.0)}


@pytest.fixture
def session(qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop) -> Iterator[RoomSession]:
    """The app's job runner: RoomSession.run_job on the shared qasync loop."""
    room_session = RoomSession(Room(), ClientPool({}, KeyStore(environ={})))
    yield room_session
    closing = qt_loop.create_task(room_session.aclose())
    qtbot.waitUntil(closing.done, timeout=TIMEOUT_MS)
    closing.result()


def named(parent: QWidget, kind: type[W], name: str) -> W:
    found = [w for w in parent.findChildren(kind) if w.accessibleName() == name]
    assert len(found) == 1, f"{len(found)} {kind.__name__} named {name!r}"
    return found[0]


async def recommended(result: Recommended | None) -> Recommended | None:
    await asyncio.sleep(0)  # answers on a later loop turn, as a request would
    return result


async def failing() -> Recommended | None:
    await asyncio.sleep(0)
    raise NetworkError("Could not reach openrouter.ai: connection refused.")


def open_dialog(
    qtbot: QtBot,
    session: RoomSession,
    *,
    model: ModelInfo | None = HAIKU,
    room: dict[str, ParamValue] | None = None,
    seat: dict[str, ParamValue] | None = None,
    result: Recommended | None = None,
    fetch: bool = True,
) -> SeatSettingsDialog:
    dialog = SeatSettingsDialog(
        "claude-3.5-haiku",
        model,
        room or {},
        seat or {},
        recommended(result) if fetch else None,
        session.run_job,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def note(dialog: SeatSettingsDialog) -> str:
    return dialog.panel().recommended_note()


def wait_loaded(qtbot: QtBot, dialog: SeatSettingsDialog) -> None:
    qtbot.waitUntil(lambda: note(dialog) != LOADING_NOTE, timeout=TIMEOUT_MS)


# -- supported parameters ------------------------------------------------------------


def test_unsupported_top_k_is_disabled_and_never_overridden(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, room={"top_k": 20}, seat={"top_k": 40, "temperature": 0.3})
    assert dialog.windowTitle() == "Settings for claude-3.5-haiku"
    spin = named(dialog, QSpinBox, "top_k")
    for widget in (spin, named(dialog, QSlider, "top_k slider"),
                   named(dialog, QToolButton, "Reset top_k")):
        assert not widget.isEnabled()
        assert widget.toolTip() == TOP_K_TIP
    assert not named(dialog, QCheckBox, "seed enabled").isEnabled()  # not listed either
    assert named(dialog, QDoubleSpinBox, "temperature").isEnabled()
    spin.setValue(77)  # even a value set behind the user's back stays out
    assert dialog.overrides() == {"temperature": 0.3}
    wait_loaded(qtbot, dialog)


def test_unknown_model_sends_everything(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, model=None, seat={"top_k": 40}, fetch=False)
    assert "not in catalogue: all parameters are sent" in named(dialog, QLabel, "Model support").text()
    assert named(dialog, QSpinBox, "top_k").isEnabled()
    assert dialog.overrides() == {"top_k": 40}


def test_model_without_a_parameter_list_sends_everything(qtbot: QtBot, session: RoomSession) -> None:
    local = ModelInfo(id="qwen2.5-7b", name="qwen2.5-7b", endpoint="local")
    dialog = open_dialog(qtbot, session, model=local, fetch=False)
    assert "all parameters are sent" in named(dialog, QLabel, "Model support").text()
    assert named(dialog, QSpinBox, "top_k").isEnabled()


# -- recommended values -----------------------------------------------------------------


def test_recommended_values_load_and_apply(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, room={"temperature": 1.0}, result=Recommended(PERCENTILES))
    apply = named(dialog, QPushButton, "Apply recommended")
    assert note(dialog) == LOADING_NOTE
    assert not apply.isVisible()
    wait_loaded(qtbot, dialog)
    assert named(dialog, QLabel, "temperature recommended").text() == "p10 0.2 · p50 0.7 · p90 1.0"
    assert apply.isVisible()
    qtbot.mouseClick(apply, Qt.MouseButton.LeftButton)
    # top_k has percentiles too, but haiku does not take it: not applied, not sent.
    assert dialog.overrides() == {"temperature": 0.7, "top_p": 0.95}
    assert "t=0.7" in named(dialog, QLabel, "Seat overrides").text()


def test_no_recommended_values(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, result=None)
    wait_loaded(qtbot, dialog)
    assert note(dialog) == NOT_OFFERED_NOTE
    assert not named(dialog, QPushButton, "Apply recommended").isVisible()
    visible = [w.text() for w in dialog.findChildren(QLabel) if w.isVisible()]
    assert not any(text.startswith("p10") for text in visible)


def test_no_job_means_not_offered(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, fetch=False)
    assert note(dialog) == NOT_OFFERED_NOTE


def test_a_failed_fetch_shows_its_message(qtbot: QtBot, session: RoomSession) -> None:
    dialog = SeatSettingsDialog("haiku", HAIKU, {}, {}, failing(), session.run_job)
    qtbot.addWidget(dialog)
    dialog.show()
    wait_loaded(qtbot, dialog)
    assert note(dialog).startswith(NOT_OFFERED_NOTE)
    assert "connection refused" in note(dialog)


# -- overrides ------------------------------------------------------------------------


def test_unchanged_gives_no_overrides(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, room={"temperature": 0.5, "stop": ["###"]}, fetch=False)
    assert dialog.overrides() == {}
    assert named(dialog, QLabel, "Seat overrides").text() == "Same as the room: no overrides."
    assert not named(dialog, QPushButton, "Clear overrides").isEnabled()
    assert not named(dialog, QPlainTextEdit, "System prompt").isVisibleTo(dialog)


def test_back_to_default_where_the_room_differs_is_an_override(
    qtbot: QtBot, session: RoomSession
) -> None:
    dialog = open_dialog(qtbot, session, room={"temperature": 0.5}, fetch=False)
    spin = named(dialog, QDoubleSpinBox, "temperature")
    spin.setValue(1.0)
    assert dialog.overrides() == {"temperature": 1.0}
    assert named(dialog, QLabel, "temperature differs from the room").isVisible()
    qtbot.mouseClick(named(dialog, QPushButton, "Clear overrides"), Qt.MouseButton.LeftButton)
    assert dialog.overrides() == {}
    assert spin.value() == 0.5


def test_existing_overrides_are_shown_and_kept(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(
        qtbot, session, room={"temperature": 0.5, "max_tokens": 512},
        seat={"temperature": 0.2, "max_tokens": 100}, fetch=False,
    )
    assert dialog.overrides() == {"temperature": 0.2, "max_tokens": 100}
    assert named(dialog, QDoubleSpinBox, "temperature").value() == 0.2


def test_ok_and_cancel(qtbot: QtBot, session: RoomSession) -> None:
    dialog = open_dialog(qtbot, session, room={"temperature": 0.5}, fetch=False)
    named(dialog, QDoubleSpinBox, "temperature").setValue(0.8)
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.overrides() == {"temperature": 0.8}
    other = open_dialog(qtbot, session, fetch=False)
    qtbot.keyClick(other, Qt.Key.Key_Escape)
    assert other.result() == QDialog.DialogCode.Rejected


def test_a_job_ending_after_the_dialog_is_gone_is_harmless(
    qtbot: QtBot, session: RoomSession
) -> None:
    gate = asyncio.Event()
    finished: list[object] = []

    async def late() -> Recommended | None:
        await gate.wait()
        return Recommended(PERCENTILES)

    def run_job(job: Coroutine[Any, Any, object], on_done: Callable[[object], None]) -> None:
        def done(result: object) -> None:
            on_done(result)  # raises if it touched the deleted dialog
            finished.append(result)

        session.run_job(job, done)

    dialog = SeatSettingsDialog("haiku", HAIKU, {}, {}, late(), run_job)
    dialog.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=TIMEOUT_MS)
    gate.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=TIMEOUT_MS)


def test_render(qtbot: QtBot, session: RoomSession) -> None:
    """Grabbing the dialog works (the PNG was looked at by hand)."""
    dialog = open_dialog(
        qtbot, session, room={"temperature": 0.7, "stop": ["###"]}, seat={"top_p": 0.9},
        result=Recommended(PERCENTILES),
    )
    wait_loaded(qtbot, dialog)
    assert not dialog.grab().isNull()
