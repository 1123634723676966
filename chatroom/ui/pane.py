"""ReplyPane: one seat's column: header (label, state), the thread, stop/retry.

The thread itself (prompts and replies) is a ReplyView; the pane adds the
header, the error line and the buttons.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Final

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.metrics import SEPARATOR
from chatroom.core.params import ParamValue
from chatroom.core.room import Reply, ReplyState, Seat, SeatId, Turn
from chatroom.ui.elided_label import ElidedLabel
from chatroom.ui.reply_view import ENDING_NOTES, ReplyView, ThreadTurn

__all__ = ["ReplyPane"]

_STATE_COLOURS: Final = {
    ReplyState.WAITING: "#8a8a8a",
    ReplyState.QUEUED: "#8a8a8a",
    ReplyState.STREAMING: "#1f7ae0",
    ReplyState.DONE: "#2e8540",
    ReplyState.STOPPED: "#b7791f",
    ReplyState.FAILED: "#c53030",
    ReplyState.INTERRUPTED: "#b7791f",
}

class _Header(QWidget):
    """The pane's title row; a double-click asks to maximise the pane.

    Signals:
        double_clicked(): the user double-clicked the header.
    """

    double_clicked = Signal()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.double_clicked.emit()
        event.accept()


class ReplyPane(QFrame):
    """One seat's view of the room.

    Signals:
        stop_requested(str): the user pressed this pane's stop button (seat id).
        retry_requested(str): the user pressed retry (seat id).
        remove_requested(str): the user asked to remove this seat.
        settings_requested(str): the user asked for this seat's own settings.
        maximise_requested(str): the user double-clicked the header.
        fix_requested(str): the user followed the error's fix link ("settings").
        attempts_requested(str): the user asked to see the earlier attempts (seat id).
        show_all_requested(str): the user asked to see the turns the view hides (seat id).
    """

    stop_requested = Signal(str)
    retry_requested = Signal(str)
    remove_requested = Signal(str)
    settings_requested = Signal(str)
    maximise_requested = Signal(str)
    fix_requested = Signal(str)
    attempts_requested = Signal(str)
    show_all_requested = Signal(str)

    def __init__(self, seat: Seat, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seat_id: SeatId = seat.id
        self.label = seat.label
        self.state: ReplyState | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("ReplyPane")
        self.setMinimumWidth(200)

        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.catalogue_label = QLabel("")
        self.catalogue_label.setStyleSheet("color: #b7791f;")
        self.catalogue_label.setToolTip(
            "The endpoint's catalogue does not list this model: prices and supported "
            "parameters are unknown, and every parameter is sent."
        )
        self.catalogue_label.hide()
        self.state_label = QLabel("")
        self.status_label = QLabel("")
        self.status_label.setStyleSheet("color: #777;")
        # Shown only once the seat has retried a reply: "attempt 2 · show earlier".
        self.attempts_button = QToolButton()
        self.attempts_button.setAutoRaise(True)
        self.attempts_button.setStyleSheet("color: #666;")
        self.attempts_button.clicked.connect(self.on_attempts_button_clicked)
        self.attempts_button.hide()
        self.stop_button = self._tool_button("■", "Stop this reply")
        self.retry_button = self._tool_button("↻", "Send the last prompt again")
        self.settings_button = self._tool_button("⚙", "This seat's own parameters")
        self.remove_button = self._tool_button("✕", "Remove this seat")
        self.stop_button.clicked.connect(self.on_stop_button_clicked)
        self.retry_button.clicked.connect(self.on_retry_button_clicked)
        self.settings_button.clicked.connect(self.on_settings_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)

        self.header = _Header()
        self.header.setToolTip("Double-click to maximise this pane, again to go back")
        self.header.double_clicked.connect(self.on_header_double_clicked)
        header = QHBoxLayout(self.header)
        header.setContentsMargins(6, 4, 4, 0)
        header.addWidget(self.title_label)
        header.addWidget(self.state_label)
        header.addWidget(self.attempts_button)
        header.addWidget(self.status_label, 1)
        for button in (self.stop_button, self.retry_button, self.settings_button, self.remove_button):
            header.addWidget(button)

        self.metrics_label = ElidedLabel(SEPARATOR)
        self.metrics_label.setStyleSheet("color: #666; padding-left: 6px;")
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.view = ReplyView(seat.label)
        self.view.show_all_requested.connect(self.on_view_show_all_requested)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.error_label.linkActivated.connect(self.on_error_label_link_activated)
        self.error_label.setStyleSheet(
            "color: #c53030; background: rgba(197,48,48,0.08); padding: 4px; border-radius: 3px;"
        )
        self.error_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        details = QHBoxLayout()
        details.setContentsMargins(0, 0, 6, 0)
        details.addWidget(self.metrics_label, 1)
        details.addWidget(self.catalogue_label)
        layout.addWidget(self.header)
        layout.addLayout(details)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.error_label)
        self.set_seat(seat)
        self._update_buttons()

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    def set_seat(self, seat: Seat, room_params: Mapping[str, ParamValue] | None = None) -> None:
        """Show the seat's label (it changes with its overrides) and what differs from the room."""
        self.label = seat.label
        self.setAccessibleName(seat.label)
        self.view.setAccessibleName(f"Reply from {seat.label}")
        self.title_label.setText(f"<b>{html.escape(seat.label)}</b>")
        tip = f"{seat.model} on {seat.endpoint}"
        if seat.params:
            room = room_params or {}
            differences = ", ".join(
                f"{key} {value} (room: {room.get(key, 'default')})" for key, value in seat.params.items()
            )
            tip += f"\nOwn settings: {differences}"
        self.title_label.setToolTip(tip)
        self.state_label.setAccessibleName(f"State of {seat.label}")
        self.metrics_label.setAccessibleName(f"Metrics of {seat.label}")
        self.error_label.setAccessibleName(f"Error from {seat.label}")
        self.attempts_button.setAccessibleName(f"Earlier attempts of {seat.label}")
        for button, verb in (
            (self.stop_button, "Stop"),
            (self.retry_button, "Retry"),
            (self.settings_button, "Settings for"),
            (self.remove_button, "Remove"),
        ):
            button.setAccessibleName(f"{verb} {seat.label}")

    def set_catalogue_note(self, note: str) -> None:
        """E.g. "not in catalogue" for a model the endpoint no longer lists; "" hides it."""
        self.catalogue_label.setText(note)
        self.catalogue_label.setVisible(bool(note))

    def set_metrics(self, line: str) -> None:
        self.metrics_label.set_full_text(line)  # a narrow pane shows its first parts, then "…"

    # -- what the session tells us ----------------------------------------

    def show_prompt(self, prompt: str, *, keep_turns: int | None = None) -> None:
        """Start a new turn: the prompt, then room for the reply; at most `keep_turns` turns stay shown."""
        self.view.show_prompt(prompt, keep_turns=keep_turns)
        self.state = None

    def show_retry(self) -> None:
        """Forget the shown reply of the latest turn; a new one is coming."""
        self.view.show_retry()
        self.state = None

    def append_text(self, text: str) -> None:
        self.view.append_text(text)

    def append_reasoning(self, text: str) -> None:
        self.view.append_reasoning(text)

    def load_turns(self, turns: Sequence[Turn], shown: int) -> None:
        """Show the room so far (a reopened room, a seat added later): the last `shown` turns, a note for the rest."""
        self.view.load_turns(self._thread(turns), shown)
        for turn in reversed(turns[max(len(turns) - shown, 0) :]):
            reply = turn.replies.get(self.seat_id)
            if reply is not None:  # the header shows the latest shown reply's state
                self.show_reply(reply, "")
                break

    def show_all(self, turns: Sequence[Turn]) -> None:
        """Show every turn of the room (`turns`), the ones the view hid too."""
        if self.view.hidden_turns:
            self.view.show_all(self._thread(turns))

    def scroll_to_turn(self, index: int, turns: Sequence[Turn], match: str = "") -> None:
        """Show turn `index` of the room (`turns`) at the top of the thread, hidden or not; select `match` in it."""
        self.view.scroll_to_turn(index, self._thread(turns), match=match)

    def _thread(self, turns: Sequence[Turn]) -> list[ThreadTurn]:
        """This seat's side of the room: each prompt with this seat's reply to it."""
        return [(turn.prompt, turn.replies.get(self.seat_id)) for turn in turns]

    def show_reply(self, reply: Reply, status: str) -> None:
        """Reflect the reply's state, status line and error."""
        self.state = reply.state
        colour = _STATE_COLOURS[reply.state]
        self.state_label.setText(f"<span style='color:{colour}'>{reply.state.value}</span>")
        self.status_label.setText(status)
        if reply.error:
            text = html.escape(reply.error, quote=False)
            if reply.error_fix == "settings":
                text += ' <a href="chatroom:settings">Open Settings</a>'
            self.error_label.setText(text)
            self.error_label.show()
        else:
            self.error_label.hide()
        if reply.state.is_terminal:
            self.view.end_reply(reply.state)
        self._update_buttons()

    def reply_text(self) -> str:
        """The latest reply's text as streamed into the view."""
        return self.view.reply_text()

    def set_attempts(self, attempt: int, retried_turns: int) -> None:
        """Say that replies of this seat were retried: `attempt` is the latest reply's number,
        `retried_turns` how many turns of the room have earlier attempts; hidden when none.
        """
        if attempt > 1:
            text = f"attempt {attempt} · show earlier"
            tip = f"This reply is attempt {attempt}: a retry replaced the earlier ones. Show them."
        elif retried_turns:
            text = "earlier attempts"
            tip = (f"{retried_turns} earlier turn{'s' if retried_turns != 1 else ''} of this seat "
                   "had replies retried. Show the attempts they replaced.")
        else:
            self.attempts_button.hide()
            return
        self.attempts_button.setText(text)
        self.attempts_button.setToolTip(tip)
        self.attempts_button.setAccessibleDescription(text)
        self.attempts_button.show()

    # -- internals --------------------------------------------------------

    def _update_buttons(self) -> None:
        active = self.state is not None and self.state.is_active
        self.stop_button.setVisible(active)
        self.retry_button.setVisible(self.state in ENDING_NOTES)

    @Slot()
    def on_stop_button_clicked(self) -> None:
        self.stop_requested.emit(self.seat_id)

    @Slot()
    def on_retry_button_clicked(self) -> None:
        self.retry_requested.emit(self.seat_id)

    @Slot()
    def on_attempts_button_clicked(self) -> None:
        self.attempts_requested.emit(self.seat_id)

    @Slot()
    def on_remove_button_clicked(self) -> None:
        self.remove_requested.emit(self.seat_id)

    @Slot()
    def on_settings_button_clicked(self) -> None:
        self.settings_requested.emit(self.seat_id)

    @Slot()
    def on_view_show_all_requested(self) -> None:
        self.show_all_requested.emit(self.seat_id)

    @Slot()
    def on_header_double_clicked(self) -> None:
        self.maximise_requested.emit(self.seat_id)

    @Slot(str)
    def on_error_label_link_activated(self, link: str) -> None:
        if link == "chatroom:settings":
            self.fix_requested.emit("settings")

