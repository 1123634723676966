"""ReplyPane: one seat's column: header (label, state), the thread, stop/retry.

The thread itself (prompts and replies) is a ReplyView; the pane adds the
header, the error line and the buttons.
"""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.room import Reply, ReplyState, Seat, SeatId
from chatroom.ui.reply_view import ENDING_NOTES, ReplyView

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

class ReplyPane(QFrame):
    """One seat's view of the room.

    Signals:
        stop_requested(str): the user pressed this pane's stop button (seat id).
        retry_requested(str): the user pressed retry (seat id).
        remove_requested(str): the user asked to remove this seat.
    """

    stop_requested = Signal(str)
    retry_requested = Signal(str)
    remove_requested = Signal(str)

    def __init__(self, seat: Seat, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seat_id: SeatId = seat.id
        self.label = seat.label
        self.state: ReplyState | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("ReplyPane")
        self.setAccessibleName(seat.label)
        self.setMinimumWidth(200)

        self.title_label = QLabel(f"<b>{_escape(seat.label)}</b>")
        self.title_label.setToolTip(f"{seat.model} on {seat.endpoint}")
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.state_label = QLabel("")
        self.state_label.setAccessibleName(f"State of {seat.label}")
        self.status_label = QLabel("")
        self.status_label.setStyleSheet("color: #777;")
        self.stop_button = self._tool_button("■", f"Stop {seat.label}", "Stop this reply")
        self.retry_button = self._tool_button("↻", f"Retry {seat.label}", "Send the last prompt again")
        self.remove_button = self._tool_button("✕", f"Remove {seat.label}", "Remove this seat")
        self.stop_button.clicked.connect(self.on_stop_button_clicked)
        self.retry_button.clicked.connect(self.on_retry_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)

        header = QHBoxLayout()
        header.setContentsMargins(6, 4, 4, 0)
        header.addWidget(self.title_label)
        header.addWidget(self.state_label)
        header.addWidget(self.status_label, 1)
        header.addWidget(self.stop_button)
        header.addWidget(self.retry_button)
        header.addWidget(self.remove_button)

        self.view = ReplyView(seat.label)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName(f"Error from {seat.label}")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(
            "color: #c53030; background: rgba(197,48,48,0.08); padding: 4px; border-radius: 3px;"
        )
        self.error_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.error_label)
        self._update_buttons()

    def _tool_button(self, text: str, name: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    # -- what the session tells us ----------------------------------------

    def show_prompt(self, prompt: str) -> None:
        """Start a new turn: the prompt, then room for the reply."""
        self.view.show_prompt(prompt)
        self.state = None

    def show_retry(self) -> None:
        """Forget the shown reply of the latest turn; a new one is coming."""
        self.view.show_retry()
        self.state = None

    def append_text(self, text: str) -> None:
        self.view.append_text(text)

    def load_reply(self, reply: Reply) -> None:
        """Show a reply that already exists (a seat added later)."""
        self.view.load_reply(reply)
        self.show_reply(reply, "")

    def show_reply(self, reply: Reply, status: str) -> None:
        """Reflect the reply's state, status line and error."""
        self.state = reply.state
        colour = _STATE_COLOURS[reply.state]
        self.state_label.setText(f"<span style='color:{colour}'>{reply.state.value}</span>")
        self.status_label.setText(status)
        if reply.error:
            self.error_label.setText(reply.error)
            self.error_label.show()
        else:
            self.error_label.hide()
        if reply.state.is_terminal:
            self.view.end_reply(reply.state)
        self._update_buttons()

    def reply_text(self) -> str:
        """The latest reply's text as streamed into the view."""
        return self.view.reply_text()

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
    def on_remove_button_clicked(self) -> None:
        self.remove_requested.emit(self.seat_id)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
