"""ReplyPane: one seat's column: header (label, state), the thread, stop/retry.

The whole thread of the seat (earlier prompts and replies) lives in one
read-only QTextBrowser so a screen reader can read it whole. Streamed text is
appended with one insertText per flush, never a re-layout of the document.
"""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.room import Reply, ReplyState, Seat, SeatId

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
# Qt lays out a whole paragraph again when text is added to it: past this
# length a streamed paragraph continues in a new block, so an append costs the
# same at 1 MB as at 1 KB (a visible line break in a very long paragraph).
MAX_BLOCK_CHARS: Final = 2000
_ENDING_NOTES: Final = {
    ReplyState.STOPPED: "[stopped: partial reply]",
    ReplyState.INTERRUPTED: "[interrupted: partial reply]",
    ReplyState.FAILED: "[failed]",
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
        self._reply_start = 0  # document position where the latest reply begins
        self._shown_parts: list[str] = []  # the latest reply's text as appended
        self._block_chars = 0  # characters in the paragraph being streamed into
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

        self.view = QTextBrowser()
        self.view.setAccessibleName(f"Reply from {seat.label}")
        self.view.setOpenLinks(False)
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.view.document().setUndoRedoEnabled(False)  # read-only: no undo history to grow
        # One cursor stays at the end for every write: moving a fresh cursor to
        # the end on each append costs a walk over the document.
        self._cursor = QTextCursor(self.view.document())

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
        cursor = self._cursor
        if not self.view.document().isEmpty():
            cursor.insertBlock()
            cursor.insertBlock()
        cursor.insertText(prompt, self._prompt_format())
        cursor.insertBlock()
        self._begin_reply(cursor)
        self._scroll_to_end()

    def show_retry(self) -> None:
        """Forget the shown reply of the latest turn; a new one is coming."""
        cursor = self._end_cursor()
        cursor.setPosition(self._reply_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._cursor.movePosition(QTextCursor.MoveOperation.End)
        self._begin_reply(self._cursor)

    def append_text(self, text: str) -> None:
        """Append streamed text; follow it unless the user scrolled up."""
        if not text:
            return
        bar = self.view.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        self._shown_parts.append(text)
        newline = text.rfind("\n")
        if newline >= 0:
            self._block_chars = len(text) - newline - 1
            self._cursor.insertText(text)
        elif self._block_chars + len(text) <= MAX_BLOCK_CHARS:
            self._block_chars += len(text)
            self._cursor.insertText(text)
        else:
            cut = text.rfind(" ") + 1 or len(text)
            self._cursor.insertText(text[:cut])
            self._cursor.insertBlock()
            self._cursor.insertText(text[cut:])
            self._block_chars = len(text) - cut
        if at_end:
            bar.setValue(bar.maximum())

    def show_reply(self, reply: Reply, status: str) -> None:
        """Reflect the reply's state, status line and error."""
        changed = reply.state is not self.state
        self.state = reply.state
        colour = _STATE_COLOURS[reply.state]
        self.state_label.setText(f"<span style='color:{colour}'>{reply.state.value}</span>")
        self.status_label.setText(status)
        if reply.error:
            self.error_label.setText(reply.error)
            self.error_label.show()
        else:
            self.error_label.hide()
        if changed and reply.state in _ENDING_NOTES:
            if self._shown_parts:
                self._cursor.insertBlock()
            self._cursor.insertText(_ENDING_NOTES[reply.state], self._note_format())
            self._cursor.setCharFormat(QTextCharFormat())
        self._update_buttons()

    def reply_text(self) -> str:
        """The latest reply's text as streamed into the view (without the ending note)."""
        return "".join(self._shown_parts)

    # -- internals --------------------------------------------------------

    def _begin_reply(self, cursor: QTextCursor) -> None:
        cursor.setCharFormat(QTextCharFormat())
        self._reply_start = cursor.position()
        self._shown_parts = []
        self._block_chars = 0
        self.state = None

    def _update_buttons(self) -> None:
        active = self.state is not None and self.state.is_active
        self.stop_button.setVisible(active)
        self.retry_button.setVisible(self.state in _ENDING_NOTES)

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _scroll_to_end(self) -> None:
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _prompt_format(self) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(QColor("#555555"))
        return fmt

    def _note_format(self) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setFontItalic(True)
        fmt.setForeground(QColor("#b7791f"))
        return fmt

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
