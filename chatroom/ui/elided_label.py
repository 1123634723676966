"""ElidedLabel: one line of parts that drops its last parts, marked "…", when it does not fit.

A pane's metrics line ("TTFT 0.42 s · 87 tok/s · 1,234 → 567 tok · $0.0012")
is wider than a pane among four. A plain QLabel cuts it at the pane's edge,
mid-number ("1,2"), which reads as a different number. This one shows the
parts that fit whole and ends with "…"; the tooltip and the accessible
description hold the whole line.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ElidedLabel"]

_MORE = " …"


class ElidedLabel(QLabel):
    """Shows as many whole `separator`-separated parts of `full_text` as fit its width."""

    def __init__(self, separator: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._separator = separator
        self.full_text = ""
        # Its layout gives it a width; its text never asks for more.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        width = self.contentsRect().width()
        metrics = self.fontMetrics()
        parts = self.full_text.split(self._separator)
        shown = self.full_text
        while len(parts) > 1 and metrics.horizontalAdvance(shown) > width:
            parts.pop()
            shown = self._separator.join(parts) + _MORE
        if metrics.horizontalAdvance(shown) > width:  # even the first part is too wide
            shown = metrics.elidedText(self.full_text, Qt.TextElideMode.ElideRight, max(width, 0))
        if shown != self.text():
            self.setText(shown)
