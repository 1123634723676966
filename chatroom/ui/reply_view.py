"""ReplyView: the read-only document of one seat's thread (prompts and replies).

One QTextBrowser holds the whole thread so a screen reader can read it whole.
The latest reply is the only part that changes: the view remembers where it
begins, appends streamed text at one persistent end cursor (never a re-layout
of the document), and can drop it for a retry.
"""

from __future__ import annotations

from typing import Final

from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget

from chatroom.core.room import Reply, ReplyState

__all__ = ["MAX_BLOCK_CHARS", "ReplyView"]

# Qt lays out a whole paragraph again when text is added to it: past this
# length a streamed paragraph continues in a new block, so an append costs the
# same at 1 MB as at 1 KB (a visible line break in a very long paragraph).
MAX_BLOCK_CHARS: Final = 2000
ENDING_NOTES: Final = {
    ReplyState.STOPPED: "[stopped: partial reply]",
    ReplyState.INTERRUPTED: "[interrupted: partial reply]",
    ReplyState.FAILED: "[failed]",
}


class ReplyView(QTextBrowser):
    """The thread of one seat, with the latest reply growing at the end."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(f"Reply from {label}")
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.document().setUndoRedoEnabled(False)  # read-only: no undo history to grow
        # One cursor stays at the end for every write: moving a fresh cursor to
        # the end on each append costs a walk over the document.
        self._cursor = QTextCursor(self.document())
        self._reply_start = 0  # document position where the latest reply begins
        self._parts: list[str] = []  # the latest reply's text as appended
        self._block_chars = 0  # characters in the paragraph being streamed into
        self._ended = False

    def show_prompt(self, prompt: str) -> None:
        """Start a new turn: the prompt, then room for the reply."""
        if not self.document().isEmpty():
            self._cursor.insertBlock()
            self._cursor.insertBlock()
        self._cursor.insertText(prompt, _prompt_format())
        self._cursor.insertBlock()
        self._begin_reply()
        self._scroll_to_end()

    def show_retry(self) -> None:
        """Forget the latest reply as shown; a new one is coming."""
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.setPosition(self._reply_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._cursor.movePosition(QTextCursor.MoveOperation.End)
        self._begin_reply()

    def append_text(self, text: str) -> None:
        """Append streamed text; follow it unless the user scrolled up."""
        if not text:
            return
        bar = self.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        self._parts.append(text)
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

    def end_reply(self, state: ReplyState) -> None:
        """The latest reply ended in `state`: mark a partial one as such."""
        if self._ended or state not in ENDING_NOTES:
            return
        self._ended = True
        if self._parts:
            self._cursor.insertBlock()
        self._cursor.insertText(ENDING_NOTES[state], _note_format())
        self._cursor.setCharFormat(QTextCharFormat())

    def load_reply(self, reply: Reply) -> None:
        """Show a reply that already exists (a seat added later, a reopened room)."""
        self.append_text(reply.text)
        if reply.state.is_terminal:
            self.end_reply(reply.state)

    def reply_text(self) -> str:
        """The latest reply's text as streamed into the view (without the ending note)."""
        return "".join(self._parts)

    def _begin_reply(self) -> None:
        self._cursor.setCharFormat(QTextCharFormat())
        self._reply_start = self._cursor.position()
        self._parts = []
        self._block_chars = 0
        self._ended = False

    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())


def _prompt_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setForeground(QColor("#555555"))
    return fmt


def _note_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setFontItalic(True)
    fmt.setForeground(QColor("#b7791f"))
    return fmt
