"""DiffDialog: two replies side by side, with their word-level differences marked.

Model text is untrusted. It goes into the documents through
QTextCursor.insertText, as plain text with a character format, so it never
passes through an HTML parser; only the seat labels appear in rich text, escaped.
"""

from __future__ import annotations

import html
from bisect import bisect_right
from collections.abc import Sequence
from typing import Final

from PySide6.QtCore import QPoint, Qt, Slot
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.diff import DiffOp, diff_words, similarity_of

__all__ = ["DiffDialog"]

# Translucent, so the palette's own background shows through: the marks stay
# readable with dark text on a light base and light text on a dark one.
LEFT_ONLY_COLOUR: Final = QColor(229, 57, 53, 90)
RIGHT_ONLY_COLOUR: Final = QColor(67, 160, 71, 90)


class DiffDialog(QDialog):
    """Compares two texts: what only the left has is red, what only the right has is green.

    The two sides scroll together (the same passage stays level on both) unless
    the user unticks "Scroll together".
    """

    def __init__(
        self,
        left_label: str,
        left_text: str,
        right_label: str,
        right_text: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare: {left_label} ↔ {right_label}")
        self.resize(1100, 720)
        self.ops = diff_words(left_text, right_text)
        self.similarity_label = QLabel(f"Similarity: {round(similarity_of(self.ops) * 100)} %")
        self.similarity_label.setAccessibleName("Similarity")
        self.similarity_label.setToolTip("The share of words and punctuation the two texts have in common")
        self.sync_check = QCheckBox("Scroll together")
        self.sync_check.setAccessibleName("Scroll together")
        self.sync_check.setChecked(True)
        self.left_view = _side_view("Diff left")
        self.right_view = _side_view("Diff right")
        self._left_starts = _fill(self.left_view, self.ops, is_left=True)
        self._right_starts = _fill(self.right_view, self.ops, is_left=False)
        self._is_syncing = False
        self._lay_out(left_label, right_label)
        self.left_view.verticalScrollBar().valueChanged.connect(self.on_left_bar_value_changed)
        self.right_view.verticalScrollBar().valueChanged.connect(self.on_right_bar_value_changed)

    def _lay_out(self, left_label: str, right_label: str) -> None:
        top = QHBoxLayout()
        top.addWidget(self.similarity_label)
        top.addSpacing(16)
        top.addWidget(_legend(left_label, right_label), 1)
        top.addWidget(self.sync_check)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(_side(left_label, self.left_view))
        splitter.addWidget(_side(right_label, self.right_view))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)

    @Slot(int)
    def on_left_bar_value_changed(self, value: int) -> None:
        self._follow(self.left_view, self._left_starts, self.right_view, self._right_starts)

    @Slot(int)
    def on_right_bar_value_changed(self, value: int) -> None:
        self._follow(self.right_view, self._right_starts, self.left_view, self._left_starts)

    def _follow(
        self, source: QTextBrowser, source_starts: list[int], target: QTextBrowser, target_starts: list[int]
    ) -> None:
        if self._is_syncing or not self.sync_check.isChecked():
            return
        self._is_syncing = True  # the target's own valueChanged must not echo back
        try:
            value = _aligned_value(source, source_starts, target, target_starts)
            target.verticalScrollBar().setValue(value)
        finally:
            self._is_syncing = False


def _side_view(name: str) -> QTextBrowser:
    view = QTextBrowser()
    view.setAccessibleName(name)
    view.setOpenLinks(False)
    view.document().setUndoRedoEnabled(False)
    return view


def _side(label: str, view: QTextBrowser) -> QWidget:
    title = QLabel(label)
    title.setTextFormat(Qt.TextFormat.PlainText)
    font = title.font()
    font.setBold(True)
    title.setFont(font)
    side = QWidget()
    column = QVBoxLayout(side)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(title)
    column.addWidget(view, 1)
    return side


def _legend(left_label: str, right_label: str) -> QLabel:
    def swatch(colour: QColor, text: str) -> str:
        rgba = f"rgba({colour.red()},{colour.green()},{colour.blue()},{colour.alphaF():.2f})"
        return f"<span style='background-color:{rgba}'>&nbsp;{html.escape(text)}&nbsp;</span>"

    legend = QLabel(
        f"{swatch(LEFT_ONLY_COLOUR, 'only in ' + left_label)}&nbsp;&nbsp;"
        f"{swatch(RIGHT_ONLY_COLOUR, 'only in ' + right_label)}&nbsp;&nbsp;"
        "unmarked text is the same in both"
    )
    legend.setTextFormat(Qt.TextFormat.RichText)
    legend.setAccessibleName("Legend")
    return legend


def _fill(view: QTextBrowser, ops: Sequence[DiffOp], *, is_left: bool) -> list[int]:
    """Write one side's text as plain text, marking changes; return where each op starts.

    The starts are document positions, which count UTF-16 units and not
    Python characters, so they are read from the cursor rather than summed.
    """
    plain = QTextCharFormat()
    marked = QTextCharFormat()
    marked.setBackground(LEFT_ONLY_COLOUR if is_left else RIGHT_ONLY_COLOUR)
    cursor = QTextCursor(view.document())
    starts: list[int] = []
    for op in ops:
        starts.append(cursor.position())
        text = op.left if is_left else op.right
        if text:
            cursor.insertText(text, plain if op.kind == "equal" else marked)
    return starts


def _aligned_value(
    source: QTextBrowser, source_starts: list[int], target: QTextBrowser, target_starts: list[int]
) -> int:
    """The target scroll value that shows, level with the source's top line, the same passage."""
    bar, target_bar = source.verticalScrollBar(), target.verticalScrollBar()
    if bar.value() <= bar.minimum() or not source_starts:
        return target_bar.minimum()
    if bar.value() >= bar.maximum():
        return target_bar.maximum()
    top = source.cursorForPosition(QPoint(0, 0))
    index = max(bisect_right(source_starts, top.position()) - 1, 0)
    offset = top.position() - source_starts[index]
    end = target_starts[index + 1] if index + 1 < len(target_starts) else target.document().characterCount() - 1
    cursor = QTextCursor(target.document())
    cursor.setPosition(min(target_starts[index] + offset, end))
    shift = target.cursorRect(cursor).top() - source.cursorRect(top).top()
    return target_bar.value() + shift
