"""ReplyView: the read-only document of one seat's thread (prompts and replies).

One QTextBrowser holds the whole thread so a screen reader can read it whole.
Replies are Markdown, rendered by `render.py` into HTML the view inserts.

Streaming stays cheap however long a reply grows: appended text accumulates in
the reply's source and a single-shot timer re-renders at most ten times a
second. Each render cuts the not-yet-frozen source into complete top-level
blocks and an open tail (`split_blocks`): complete blocks are rendered once and
frozen in the document; only the tail is removed and inserted again. So a
render costs the size of the tail, not of the reply. Only the latest reply
ever streams; earlier ones change only when their reasoning is toggled.

A burst (a buffering proxy may deliver a megabyte in a fifth of a second)
completes hundreds of blocks at once, so one render pass freezes at most
`PASS_HTML_CHARS` of them; while blocks wait, the next pass follows after
as long as the last one took (more often than ten a second, each one short).
The view catches up over many short passes instead of one long freeze, and the
ending note and copy link follow once it has (`is_rendered`). A reply loaded
whole, or one followed by a new prompt, is still rendered in one go.

A long room shows only its last turns (how many: `shown_turns.py`). A new
prompt can hide the oldest shown turns: their text is cut out of the document,
which is what frees Qt's layout of it, and a first line says how many are
hidden, with a "Show all" link; the caller then hands the whole thread to
`show_all`. The shown turns are never rendered again for this, and a reader's
place stays where it is.

Nothing the model writes can make the view fetch anything: raw HTML is
escaped, images are text, `loadResource` answers every URL with an empty
placeholder, and links open in the browser only on click, after showing the
address when the link's text differs from it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QGuiApplication,
    QImage,
    QMouseEvent,
    QPalette,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QFrame, QMessageBox, QSizePolicy, QTextBrowser, QWidget

from chatroom.core.room import Reply, ReplyState
from chatroom.ui.render import (
    MAX_BLOCK_CHARS,
    OPENABLE_SCHEMES,
    InternalLink,
    copy_reply_link,
    fence_body,
    parse_internal_link,
    plain_note_html,
    render_block,
    split_blocks,
    toggle_reasoning_link,
)
from chatroom.ui.shown_turns import MAX_SHOWN_PROMPT_CHARS

__all__ = [
    "ENDING_NOTES",
    "PASS_HTML_CHARS",
    "RENDER_INTERVAL_MS",
    "SHOW_ALL_LINK",
    "STREAMING_TAIL_CHARS",
    "ReplyView",
    "ThreadTurn",
]

ENDING_NOTES: Final = {
    ReplyState.STOPPED: "[stopped: partial reply]",
    ReplyState.INTERRUPTED: "[interrupted: partial reply]",
    ReplyState.FAILED: "[failed]",
}
#: At most ten re-renders a second while a reply streams.
RENDER_INTERVAL_MS: Final = 100
# A render that took t waits at least 3 t before the next one, so a slow
# machine spends at most a quarter of its time rendering and stays responsive.
_BUSY_FACTOR: Final = 3.0
#: An open block longer than this is shown as plain text, appended in place,
#: until it is complete: rendering 16 KB of Python (480 lines) takes 50-60 ms.
STREAMING_TAIL_CHARS: Final = 16_000
# Qt lays out a whole paragraph again when text is added to it: plain text
# continues in a new block past this many characters, so an append into a
# 1 MB paragraph costs the same as into a short one.
_PLAIN_LINE_CHARS: Final = 2_000
# A fragment that starts with an empty paragraph merges that paragraph into
# the block at the cursor and keeps the formats (heading, list, code) of all
# the blocks after it; without it Qt merges the first rendered block into the
# block before and drops its format.
_EMPTY_PARAGRAPH: Final = '<p style="-qt-paragraph-type:empty"></p>'
# While complete blocks wait to be frozen, the next pass starts after as long
# as the last one took: a backlog gets half the loop, input the other half.
_CATCH_UP_FACTOR: Final = 1.0
_GREY: Final = "#808080"
#: The link of the note above a thread whose oldest turns are hidden.
SHOW_ALL_LINK: Final = "chatroom-show:all-turns"

ConfirmLink = Callable[[str], bool]
OpenUrl = Callable[[QUrl], bool]
#: One turn of a seat's thread: the prompt, and the seat's reply if it had one.
ThreadTurn = tuple[str, Reply | None]


#: HTML characters one render pass may freeze: at least one block, however
#: large (render.py bounds one block's cost). Counted in HTML, not source: per
#: character of HTML, paragraphs, mixed Markdown and highlighted code cost
#: within 2x of each other to render and insert, per character of source 10x.
#: Measured per pass here: 6 ms for lorem paragraphs, 13 ms for bench_render's
#: mixed Markdown or one 40-line code block (26 ms at worst), then 5-15 ms of
#: layout and repaint; 40,000 took 15, 31 and 41 ms.
PASS_HTML_CHARS: Final = 16_000


@dataclass
class _ReplyDoc:
    """One reply in the document: where its parts sit, what they show.

    Positions are document positions. Every part starts with a block
    separator, so each one starts where the block before it ends:
      [turn_start, start)          the separating empty line and the prompt
      [start, toggle_end)          the "Reasoning (n words)" line, if any
      [toggle_end, answer_start)   the reasoning text, when expanded
      [answer_start, frozen_end)   complete Markdown blocks, rendered once
      [frozen_end, end)            the open tail block, re-rendered
    The ending note and the copy link follow `end` once the reply ended and
    the display caught up (`closed`). Blocks complete but not yet frozen
    (`ready`) are not shown; while there are any, `end == frozen_end`.
    """

    index: int  # the turn's number in the whole thread, hidden turns included
    prompt: str | None
    turn_start: int
    start: int
    code_base: int  # index in ReplyView._codes of this reply's first code block
    toggle_end: int = 0
    answer_start: int = 0
    frozen_end: int = 0
    end: int = 0
    frozen_codes: int = 0  # index in ReplyView._codes after the frozen blocks' code
    frozen_source: list[str] = field(default_factory=list)
    ready: deque[str] = field(default_factory=deque)  # complete blocks after the frozen ones
    unfrozen: str = ""  # the source after the ready blocks, as last split
    pending: list[str] = field(default_factory=list)  # appended since the last render
    tail_shown: str | None = None  # the tail source the display was rendered from
    plain_chars: int = 0  # > 0: the tail is shown as plain text up to here
    plain_line_chars: int = 0  # characters in the last block of that plain text
    reasoning: list[str] = field(default_factory=list)
    reasoning_words: int = 0
    reasoning_in_word: bool = False  # the reasoning so far ends inside a word
    reasoning_shown: int = 0  # characters of reasoning shown (when expanded)
    reasoning_dirty: bool = False
    expanded: bool = False
    ended: ReplyState | None = None
    behind: bool = False  # the last render left blocks to freeze or the tail to show
    closed: bool = False  # the ending note and copy link are shown

    def __post_init__(self) -> None:
        self.toggle_end = self.answer_start = self.frozen_end = self.end = self.start
        self.frozen_codes = self.code_base

    def source(self) -> str:
        """The Markdown source of the reply as appended so far."""
        if len(self.frozen_source) > 1:
            self.frozen_source[:] = ["".join(self.frozen_source)]
        return "".join([*self.frozen_source, *self.ready, self.unfrozen, *self.pending])

    def reasoning_text(self) -> str:
        if len(self.reasoning) > 1:
            self.reasoning[:] = ["".join(self.reasoning)]
        return self.reasoning[0] if self.reasoning else ""

    def shift_answer(self, delta: int) -> None:
        """Text was inserted (or removed, delta < 0) before the answer."""
        self.answer_start += delta
        self.frozen_end += delta
        self.end += delta

    def shift(self, delta: int) -> None:
        """Text was inserted (or removed) before the whole turn."""
        self.turn_start += delta
        self.start += delta
        self.toggle_end += delta
        self.shift_answer(delta)


class ReplyView(QTextBrowser):
    """The thread of one seat, with the latest reply rendered as it grows.

    `confirm_link(url)` asks before opening a link whose text is not its
    address (a QMessageBox by default); `open_url(url)` opens it (the system
    browser by default). Tests replace both.

    Signals:
        show_all_requested(): the user followed the note's "Show all" link.
    """

    show_all_requested = Signal()

    def __init__(
        self,
        label: str,
        parent: QWidget | None = None,
        *,
        confirm_link: ConfirmLink | None = None,
        open_url: OpenUrl | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName(f"Reply from {label}")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.document().setUndoRedoEnabled(False)  # read-only: no undo history to grow
        self.confirm_link: ConfirmLink = confirm_link or self._ask_before_opening
        self.open_url: OpenUrl = open_url or QDesktopServices.openUrl
        self._replies: list[_ReplyDoc] = []  # the shown turns
        self._hidden = 0  # turns before them that are not shown
        self._note_end = 0  # the note about them takes [0, _note_end)
        self._codes: list[str] = []  # code of each copy button, by its number
        self._whole_blocks: set[int] = set()  # codes holding a whole block: copy its fence body
        self._dark = self._is_dark()
        self._click_pos: QPoint | None = None
        self._last_render_s = -1e9
        self._render_gap_s = RENDER_INTERVAL_MS / 1000
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self.on_render_timer_timeout)
        self.anchorClicked.connect(self.on_anchor_clicked)

    # -- what the pane tells us -------------------------------------------

    def show_prompt(self, prompt: str, *, keep_turns: int | None = None) -> None:
        """Start a new turn: the prompt, then room for the reply.

        With `keep_turns`, the oldest turns are hidden first, so that at most
        that many are shown once the new one is.
        """
        self._close_latest()
        if keep_turns is not None:
            self._hide_oldest(len(self._replies) - max(keep_turns - 1, 0))
        self._start_reply(prompt)
        self._scroll_to_end()

    def load_turns(self, turns: Sequence[ThreadTurn], shown: int) -> None:
        """Show a thread that already exists (a reopened room, a seat added later) instead of this one.

        The last `shown` turns are rendered whole; a note above them counts the others.
        """
        self._clear()
        self._hidden = max(len(turns) - shown, 0)
        if self._hidden:
            self._write_note()
        for prompt, reply in turns[self._hidden :]:
            self._start_reply(prompt)
            if reply is not None:
                self.load_reply(reply)
        self._scroll_to_end()

    def show_all(self, turns: Sequence[ThreadTurn]) -> None:
        """Show the hidden turns again: `turns` is the whole thread, oldest first.

        Its first `hidden_turns` are rendered above the shown ones, which are
        rendered again from their own text (the latest may still stream). The
        text at the top of the viewport stays there; the end, if it was shown.
        """
        if not self._hidden:
            return
        anchor = self._scroll_anchor()
        self._rebuild(earlier=turns[: self._hidden])
        self._put_anchor_back(anchor)

    def scroll_to_turn(self, index: int, turns: Sequence[ThreadTurn], *, match: str = "") -> bool:
        """Bring turn `index` of the thread to the top of the view; False if there is no such turn.

        `turns` is the whole thread, oldest first: when the turn is one of the
        hidden ones, every turn is shown first (as "Show all" does). The first
        `match` in the turn (any case), if there is one, is selected and
        scrolled into view.
        """
        if not 0 <= index < self._hidden + len(self._replies):
            return False
        if index < self._hidden:
            self.show_all(turns)
        reply = self._reply_at(index)
        if reply is None:
            return False
        # The prompt's block: turn_start is where the turn before it ended
        # (inside that turn's last block), then come the empty separating lines.
        block = self.document().findBlock(reply.turn_start)
        if block.position() < reply.turn_start:
            block = block.next()
        while block.isValid() and not block.text() and block.position() < reply.start:
            block = block.next()
        top = self.document().documentLayout().blockBoundingRect(block).y()
        self.verticalScrollBar().setValue(round(top))
        if match:
            self._select_in_turn(reply, match)
        return True

    def _select_in_turn(self, reply: _ReplyDoc, text: str) -> None:
        following = self._reply_at(reply.index + 1)
        turn_end = following.turn_start if following is not None else self._end_cursor().position()
        found = self.document().find(text, reply.turn_start)
        if found.isNull() or found.selectionEnd() > turn_end:
            return
        self.setTextCursor(found)
        self.ensureCursorVisible()

    @property
    def hidden_turns(self) -> int:
        """How many turns before the shown ones are not shown."""
        return self._hidden

    def show_retry(self) -> None:
        """Forget the latest reply as shown; a new one is coming."""
        if not self._replies:
            return
        old = self._replies[-1]
        self._render_timer.stop()
        cursor = QTextCursor(self.document())
        cursor.setPosition(old.start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._forget_codes(old.code_base)
        self._replies[-1] = _ReplyDoc(old.index, old.prompt, old.turn_start, old.start, old.code_base)

    def append_text(self, text: str) -> None:
        """Append streamed Markdown; it shows at the next render (at most 10/s)."""
        if not text:
            return
        self._latest().pending.append(text)
        self._schedule_render()

    def append_reasoning(self, text: str) -> None:
        """Append streamed reasoning; it shows, collapsed, above the answer."""
        if not text:
            return
        reply = self._latest()
        reply.reasoning.append(text)
        reply.reasoning_words, reply.reasoning_in_word = _count_words(
            text, reply.reasoning_words, reply.reasoning_in_word
        )
        reply.reasoning_dirty = True
        self._schedule_render()

    def end_reply(self, state: ReplyState) -> None:
        """The latest reply ended in `state`: render it whole, then mark a partial one.

        At once, unless a burst left more blocks than one pass freezes: then
        over the next few passes (see `is_rendered`).
        """
        reply = self._latest()
        if reply.ended is not None:
            return
        reply.ended = state
        self._render(reply, final=True)

    def load_reply(self, reply: Reply) -> None:
        """Show a reply that already exists (a seat added later, a reopened room), whole at once."""
        self.append_reasoning(reply.reasoning)
        self.append_text(reply.text)
        if reply.state.is_terminal:
            self.end_reply(reply.state)
            if not self._latest().closed:
                self._render(self._latest(), final=True, budget=math.inf)

    @property
    def is_rendered(self) -> bool:
        """Whether the document shows all of the latest reply that arrived, its ending too once it ended."""
        if not self._replies:
            return True
        reply = self._replies[-1]
        shown = not (reply.pending or reply.behind or reply.reasoning_dirty)
        return shown and (reply.ended is None or reply.closed)

    def reply_text(self) -> str:
        """The Markdown source of the latest reply as streamed (without the ending note)."""
        return self._replies[-1].source() if self._replies else ""

    # -- Qt ---------------------------------------------------------------

    def loadResource(self, type: int, name: QUrl | str) -> Any:  # noqa: A002 - Qt's name
        """Load nothing: no image, style sheet or font, remote or local.

        Qt falls back to reading local files itself when this returns nothing,
        so images get a 1x1 transparent placeholder and the rest an empty text.
        """
        if type == QTextDocument.ResourceType.ImageResource.value:
            image = QImage(1, 1, QImage.Format.Format_ARGB32)
            image.fill(Qt.GlobalColor.transparent)
            return image
        return ""

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        # anchorClicked fires inside this call; remember where, to read the link's text.
        self._click_pos = e.position().toPoint()
        try:
            super().mouseReleaseEvent(e)
        finally:
            self._click_pos = None

    def changeEvent(self, e: QEvent) -> None:
        super().changeEvent(e)
        if e.type() == QEvent.Type.PaletteChange and self._is_dark() != self._dark:
            self._dark = not self._dark
            self._rebuild()

    @Slot()
    def on_render_timer_timeout(self) -> None:
        if self._replies:
            reply = self._replies[-1]
            self._render(reply, final=reply.ended is not None)

    @Slot(QUrl)
    def on_anchor_clicked(self, url: QUrl) -> None:
        if url.toString() == SHOW_ALL_LINK:
            self.show_all_requested.emit()
            return
        internal = parse_internal_link(url.toString())
        if internal is not None:
            self._follow(internal)
            return
        if url.scheme().lower() not in OPENABLE_SCHEMES:
            return
        # Encoded, the address shows what will be requested (no look-alike characters).
        address = bytes(url.toEncoded().data()).decode("ascii")
        if not _shows_address(self._anchor_text(url), address) and not self.confirm_link(address):
            return
        self.open_url(url)

    # -- rendering --------------------------------------------------------

    def _schedule_render(self) -> None:
        if self._render_timer.isActive():
            return  # the coming render picks up this text too
        since_s = time.perf_counter() - self._last_render_s
        self._render_timer.start(max(0, round((self._render_gap_s - since_s) * 1000)))

    def _render(self, reply: _ReplyDoc, *, final: bool, budget: float = PASS_HTML_CHARS) -> None:
        """Show what arrived since the last render, freezing about `budget` HTML characters at most.

        `final` (the reply ended, or another follows) also renders the tail
        whole and, once the display caught up, writes the ending. A pass that
        leaves work behind schedules the next one.
        """
        started_s = time.perf_counter()
        at_end = self._is_at_end()
        edit = QTextCursor(self.document())
        edit.beginEditBlock()  # one layout pass for all the changes below
        try:
            if reply.reasoning_dirty:
                self._show_reasoning(reply)
            if reply.pending or reply.behind or final:
                reply.behind = not self._render_answer(reply, final=final, budget=budget)
            if reply.ended is not None and not reply.behind and not reply.closed:
                self._write_ending(reply, reply.ended)
        finally:
            edit.endEditBlock()
        if at_end:
            self._scroll_to_end()
        self._last_render_s = time.perf_counter()
        took_s = self._last_render_s - started_s
        self._render_gap_s = max(RENDER_INTERVAL_MS / 1000, _BUSY_FACTOR * took_s)
        if reply.behind:
            self._render_timer.start(round(_CATCH_UP_FACTOR * took_s * 1000))

    def _render_answer(self, reply: _ReplyDoc, *, final: bool, budget: float) -> bool:
        """Freeze complete blocks, then show the tail; return whether all of it is shown."""
        blocks, tail = split_blocks(reply.unfrozen + "".join(reply.pending))
        reply.pending.clear()
        reply.ready.extend(blocks)
        reply.unfrozen = tail
        if reply.ready and self._freeze(reply, budget):
            return False  # the budget is spent: the tail waits for the next pass
        limit = MAX_BLOCK_CHARS if final else STREAMING_TAIL_CHARS
        if len(tail) > limit:
            self._show_plain_tail(reply, tail)
        elif tail != reply.tail_shown:
            self._clear_tail(reply)
            rendered = render_block(tail, dark=self._dark, first_code=len(self._codes))
            self._codes.extend(rendered.codes)
            reply.end = self._insert_html(reply.frozen_end, rendered.html)
            reply.tail_shown = tail
        return True

    def _freeze(self, reply: _ReplyDoc, budget: float) -> bool:
        """Render ready blocks once, in place of the tail, within `budget`; return whether it is spent."""
        self._clear_tail(reply)
        html: list[str] = []
        frozen: list[str] = []
        size = 0
        spent = False
        while reply.ready and not spent:
            block = reply.ready.popleft()
            rendered = render_block(block, dark=self._dark, first_code=len(self._codes))
            self._codes.extend(rendered.codes)
            html.append(rendered.html)
            frozen.append(block)
            size += len(rendered.html)
            # Not a time budget: a pass must not depend on the machine's load (a
            # preempted pass would leave a short reply unfinished at its end).
            spent = size >= budget
        reply.frozen_end = reply.end = self._insert_html(reply.frozen_end, "".join(html))
        reply.frozen_codes = len(self._codes)
        reply.frozen_source.append("".join(frozen))
        return spent

    def _write_ending(self, reply: _ReplyDoc, state: ReplyState) -> None:
        """After a reply that ended in `state`: the note of a partial one, then the copy link."""
        reply.closed = True
        cursor = self._end_cursor()
        if state in ENDING_NOTES:
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            cursor.insertText(ENDING_NOTES[state], _note_format())
        if reply.source().strip():
            cursor.insertBlock(_copy_reply_block_format(), QTextCharFormat())
            cursor.insertText("Copy reply", _link_format(copy_reply_link(reply.index)))

    def _clear_tail(self, reply: _ReplyDoc) -> None:
        if reply.end > reply.frozen_end:
            cursor = QTextCursor(self.document())
            cursor.setPosition(reply.frozen_end)
            cursor.setPosition(reply.end, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        reply.end = reply.frozen_end
        self._forget_codes(reply.frozen_codes)
        reply.tail_shown = None
        reply.plain_chars = reply.plain_line_chars = 0

    def _show_plain_tail(self, reply: _ReplyDoc, tail: str) -> None:
        """A tail too long to format: plain text, appended in place after the first time."""
        if reply.plain_chars == 0:
            self._clear_tail(reply)
            cursor = QTextCursor(self.document())
            cursor.setPosition(self._insert_html(reply.frozen_end, plain_note_html(len(self._codes))))
            cursor.insertBlock(QTextBlockFormat(), _plain_format())
            self._whole_blocks.add(len(self._codes))
            self._codes.append(tail)
        else:
            cursor = QTextCursor(self.document())
            cursor.setPosition(reply.end)
            self._codes[reply.frozen_codes] = tail
        reply.plain_line_chars = _insert_plain(cursor, tail[reply.plain_chars :], reply.plain_line_chars)
        reply.plain_chars = len(tail)
        reply.end = cursor.position()

    def _insert_html(self, position: int, html: str) -> int:
        """Insert rendered blocks at the end of the block at `position`; return where they end."""
        cursor = QTextCursor(self.document())
        cursor.setPosition(position)
        if html:
            cursor.insertHtml(_EMPTY_PARAGRAPH + html)
        return cursor.position()

    def _forget_codes(self, first: int) -> None:
        del self._codes[first:]
        self._whole_blocks = {index for index in self._whole_blocks if index < first}

    # -- reasoning ---------------------------------------------------------

    def _show_reasoning(self, reply: _ReplyDoc) -> None:
        """Write the reasoning line (and the new reasoning text, when expanded)."""
        reply.reasoning_dirty = False
        cursor = QTextCursor(self.document())
        if reply.toggle_end == reply.start:
            cursor.setPosition(reply.start)
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        else:
            cursor.setPosition(reply.start + 1)
            cursor.setPosition(reply.toggle_end, QTextCursor.MoveMode.KeepAnchor)
        arrow = "▾" if reply.expanded else "▸"
        words = reply.reasoning_words
        label = f"{arrow} Reasoning ({words} word{'' if words == 1 else 's'})"
        cursor.insertText(label, _link_format(toggle_reasoning_link(reply.index), colour=_GREY))
        self._moved_answer(reply, cursor.position() - reply.toggle_end)
        reply.toggle_end = cursor.position()
        if reply.expanded:
            self._append_reasoning_text(reply)

    def _append_reasoning_text(self, reply: _ReplyDoc) -> None:
        text = reply.reasoning_text()[reply.reasoning_shown :]
        if not text:
            return
        cursor = QTextCursor(self.document())
        cursor.setPosition(reply.answer_start)
        if reply.reasoning_shown == 0:
            cursor.insertBlock(QTextBlockFormat(), _reasoning_format())
            text = text.lstrip("\n")
        cursor.insertText(text, _reasoning_format())
        reply.reasoning_shown = len(reply.reasoning_text())
        self._moved_answer(reply, cursor.position() - reply.answer_start)

    def _hide_reasoning_text(self, reply: _ReplyDoc) -> None:
        cursor = QTextCursor(self.document())
        cursor.setPosition(reply.toggle_end)
        cursor.setPosition(reply.answer_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        reply.reasoning_shown = 0
        self._moved_answer(reply, reply.toggle_end - reply.answer_start)

    def _moved_answer(self, reply: _ReplyDoc, delta: int) -> None:
        """`delta` characters were inserted before `reply`'s answer: move what follows."""
        reply.shift_answer(delta)
        for later in self._replies[reply.index - self._hidden + 1 :]:
            later.shift(delta)

    def _toggle_reasoning(self, reply: _ReplyDoc) -> None:
        edit = QTextCursor(self.document())
        edit.beginEditBlock()
        try:
            if reply.expanded:
                self._hide_reasoning_text(reply)
            reply.expanded = not reply.expanded
            self._show_reasoning(reply)
        finally:
            edit.endEditBlock()

    # -- links ------------------------------------------------------------

    def _follow(self, link: InternalLink) -> None:
        if link.action == "copy-block" and link.index < len(self._codes):
            code = self._codes[link.index]
            QGuiApplication.clipboard().setText(fence_body(code) if link.index in self._whole_blocks else code)
        elif link.action == "copy-reply" and (reply := self._reply_at(link.index)) is not None:
            QGuiApplication.clipboard().setText(reply.source())
        elif link.action == "toggle-reasoning" and (reply := self._reply_at(link.index)) is not None:
            self._toggle_reasoning(reply)

    def _anchor_text(self, url: QUrl) -> str:
        """The text of the clicked link (by mouse, or selected by keyboard)."""
        if self._click_pos is None:
            cursor = self.textCursor()
            if cursor.hasSelection():
                return cursor.selectedText()
        else:
            cursor = self.cursorForPosition(self._click_pos)
        return _link_text_at(cursor.block(), cursor.position(), url)

    def _ask_before_opening(self, address: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Open link",
            f"Open this address in your web browser?\n\n{address}",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Open

    # -- the thread ---------------------------------------------------------

    def _latest(self) -> _ReplyDoc:
        return self._replies[-1] if self._replies else self._start_reply(None)

    def _reply_at(self, index: int) -> _ReplyDoc | None:
        """The shown turn numbered `index` in the whole thread."""
        shown = index - self._hidden
        return self._replies[shown] if 0 <= shown < len(self._replies) else None

    def _close_latest(self) -> None:
        if self._replies and not self._replies[-1].closed:
            # It will not stream any more, and only the latest reply renders in passes.
            self._render(self._replies[-1], final=True, budget=math.inf)

    def _start_reply(self, prompt: str | None) -> _ReplyDoc:
        self._close_latest()
        cursor = self._end_cursor()
        turn_start = cursor.position()
        if prompt is not None:
            if not self.document().isEmpty():
                cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
                cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            cursor.insertText(_shown_prompt(prompt), _prompt_format(self._dark))
        index = self._hidden + len(self._replies)
        reply = _ReplyDoc(index, prompt, turn_start, cursor.position(), len(self._codes))
        self._replies.append(reply)
        return reply

    def _hide_oldest(self, count: int) -> None:
        """Cut the oldest `count` shown turns out of the document (freeing their layout); the note counts them."""
        if count <= 0 or not self._replies:
            return
        first, kept = self._replies[0], self._replies[count:]
        end = kept[0].turn_start if kept else self._end_cursor().position()
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()  # one layout pass
        try:
            cursor.setPosition(first.turn_start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            for reply in kept:
                reply.shift(first.turn_start - end)
            # Their copy links went with them: let go of the code too.
            for index in range(first.code_base, kept[0].code_base if kept else len(self._codes)):
                self._codes[index] = ""
                self._whole_blocks.discard(index)
            self._hidden += len(self._replies) - len(kept)
            self._replies = kept
            self._write_note()
        finally:
            cursor.endEditBlock()

    def _write_note(self) -> None:
        """The first line: how many earlier turns are not shown, and the link that shows them."""
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._note_end, QTextCursor.MoveMode.KeepAnchor)
        cursor.setBlockFormat(QTextBlockFormat())
        verb = "turn is" if self._hidden == 1 else "turns are"
        cursor.insertText(f"{self._hidden:,} earlier {verb} not shown — ", _hidden_note_format())
        cursor.insertText("Show all", _link_format(SHOW_ALL_LINK))
        delta = cursor.position() - self._note_end
        self._note_end = cursor.position()
        for reply in self._replies:
            reply.shift(delta)

    def _clear(self) -> None:
        self._render_timer.stop()
        self._replies = []
        self._forget_codes(0)
        self.document().clear()
        self._note_end = 0

    def _rebuild(self, earlier: Sequence[ThreadTurn] = ()) -> None:
        """Render the whole thread again: the palette turned light or dark, or the hidden turns (`earlier`) come back."""
        old = self._replies
        self._clear()
        if earlier:
            self._hidden = 0
        elif self._hidden:
            self._write_note()
        for prompt, loaded in earlier:
            self._start_reply(prompt)
            if loaded is not None:
                self.load_reply(loaded)
        for reply in old:
            new = self._start_reply(reply.prompt)
            new.expanded = reply.expanded
            self.append_reasoning(reply.reasoning_text())
            self.append_text(reply.source())
            if reply.ended is not None:
                self.end_reply(reply.ended)
        if self._replies:
            latest = self._replies[-1]
            self._render(latest, final=latest.ended is not None)

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _is_dark(self) -> bool:
        # The palette follows the system's colour scheme (QStyleHints.colorScheme)
        # and any palette the app sets, so it is what the text is drawn on.
        return self.palette().color(QPalette.ColorRole.Base).lightness() < 128

    def _is_at_end(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _scroll_anchor(self) -> tuple[int, int, float] | None:
        """Where the viewport's top is: a turn's number, a position in it, the pixels above; None at the end."""
        if self._is_at_end() or not self._replies:
            return None
        top = self.cursorForPosition(QPoint(0, 0)).position()
        turn = next((r for r in reversed(self._replies) if r.turn_start <= top), self._replies[0])
        position = max(top, turn.turn_start)
        block_y = self.document().documentLayout().blockBoundingRect(self.document().findBlock(position)).y()
        return turn.index, position - turn.turn_start, self.verticalScrollBar().value() - block_y

    def _put_anchor_back(self, anchor: tuple[int, int, float] | None) -> None:
        turn = None if anchor is None else self._reply_at(anchor[0])
        if anchor is None or turn is None:
            self._scroll_to_end()
            return
        block = self.document().findBlock(turn.turn_start + anchor[1])
        block_y = self.document().documentLayout().blockBoundingRect(block).y()
        self.verticalScrollBar().setValue(round(block_y + anchor[2]))

    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())


def _insert_plain(cursor: QTextCursor, text: str, line_chars: int) -> int:
    """Insert plain text, breaking lines longer than _PLAIN_LINE_CHARS; return the last line's length."""
    fmt = _plain_format()
    while text:
        newline = text.find("\n")
        line_end = len(text) if newline < 0 else newline
        if line_chars + line_end <= _PLAIN_LINE_CHARS:
            piece = text if newline < 0 else text[: newline + 1]
            cursor.insertText(piece, fmt)
            line_chars = line_chars + len(piece) if newline < 0 else 0
            text = text[len(piece) :]
            continue
        room = max(1, _PLAIN_LINE_CHARS - line_chars)
        cut = text.rfind(" ", 0, room) + 1 or room
        cursor.insertText(text[:cut], fmt)
        cursor.insertBlock(QTextBlockFormat(), fmt)
        line_chars = 0
        text = text[cut:]
    return line_chars


def _count_words(text: str, words: int, in_word: bool) -> tuple[int, bool]:
    """Words so far after `text` is appended, and whether it ends inside a word."""
    if not text:
        return words, in_word
    added = len(text.split())
    if in_word and added and not text[0].isspace():
        added -= 1  # the first word continues the last one
    return words + added, not text[-1].isspace()


def _link_text_at(block: QTextBlock, position: int, url: QUrl) -> str:
    """The text of the run of fragments linking to `url` around `position`."""
    run: list[str] = []
    run_has_position = False
    it = block.begin()
    while not it.atEnd():
        fragment = it.fragment()
        it += 1
        if QUrl(fragment.charFormat().anchorHref()) != url:
            if run_has_position:
                break
            run, run_has_position = [], False
            continue
        run.append(fragment.text())
        start = fragment.position()
        run_has_position = run_has_position or start <= position <= start + fragment.length()
    return "".join(run) if run_has_position else ""


def _shows_address(text: str, address: str) -> bool:
    """Whether a link's text is its own address, so the user already sees where it goes."""
    text = text.strip()
    if not text:
        return False
    if text in (address, address.removeprefix("mailto:")):
        return True
    return QUrl(text).toEncoded() == QUrl(address).toEncoded()


def _prompt_format(dark: bool) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setForeground(QColor("#a8a8a8" if dark else "#555555"))
    return fmt


def _note_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setFontItalic(True)
    fmt.setForeground(QColor("#b7791f"))
    return fmt


def _hidden_note_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setFontItalic(True)
    fmt.setForeground(QColor(_GREY))
    return fmt


def _reasoning_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(_GREY))
    return fmt


def _plain_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setFontFamilies(["monospace"])
    fmt.setFontFixedPitch(True)
    return fmt


def _link_format(address: str, colour: str | None = None) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setAnchor(True)
    fmt.setAnchorHref(address)
    if colour is not None:
        fmt.setForeground(QColor(colour))
    else:
        fmt.setForeground(QGuiApplication.palette().color(QPalette.ColorRole.Link))
        fmt.setFontUnderline(True)
    return fmt


def _copy_reply_block_format() -> QTextBlockFormat:
    fmt = QTextBlockFormat()
    fmt.setAlignment(Qt.AlignmentFlag.AlignRight)
    fmt.setTopMargin(4)
    return fmt


def _shown_prompt(prompt: str) -> str:
    if len(prompt) <= MAX_SHOWN_PROMPT_CHARS:
        return prompt
    hidden = len(prompt) - MAX_SHOWN_PROMPT_CHARS
    return f"{prompt[:MAX_SHOWN_PROMPT_CHARS]}… ({hidden:,} more characters sent, not shown)"
