"""ComparisonStrip: the latest turn's seats ranked by speed, length and cost."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget

from chatroom.core.metrics import ReplyMetrics, format_usd, rank_replies

__all__ = ["ComparisonStrip"]

_Shown = Callable[[ReplyMetrics], str | None]
_ROWS: Final[tuple[tuple[str, str, _Shown], ...]] = (
    ("ttft", "First token", lambda m: f"{m.ttft_s:.2f} s" if m.ttft_s is not None else None),
    ("tokens_per_s", "Speed", lambda m: f"{m.tokens_per_s:.0f} tok/s" if m.tokens_per_s else None),
    ("length", "Length", lambda m: _tokens(m)),
    ("cost", "Cost", lambda m: _cost(m)),
)


def _tokens(metrics: ReplyMetrics) -> str | None:
    if metrics.completion_tokens is None:
        return None
    approx = "~" if metrics.tokens_estimated else ""
    return f"{approx}{metrics.completion_tokens:,} tok"


def _cost(metrics: ReplyMetrics) -> str | None:
    if metrics.cost_usd is None:
        return None
    approx = "~" if metrics.cost_estimated else ""
    return approx + format_usd(metrics.cost_usd)


class ComparisonStrip(QLabel):
    """One line per measure, seats best first; hidden with fewer than two replies.

    Its rankings wrap, and the height the wrapped text needs becomes its
    minimum height: a wrapping label's height-for-width does not reach the
    window's splitter, which otherwise squeezed the composer and cut the
    last lines off.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Comparison")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet("color: palette(text); padding: 2px 4px;")
        self.setWordWrap(True)
        self.hide()

    def show_turn(self, metrics: Mapping[str, ReplyMetrics]) -> None:
        """Rank the latest turn's finished replies (seat label -> metrics)."""
        if len(metrics) < 2:
            self.hide()
            return
        import html  # with html.entities, 1.5 ms the first frame does not need

        ranked = rank_replies(metrics)
        lines = []
        for key, title, shown in _ROWS:
            entries = [
                f"{html.escape(label)} {value}"
                for label in ranked[key]
                if (value := shown(metrics[label])) is not None
            ]
            if entries:
                lines.append(f"<b>{title}:</b> " + " &gt; ".join(entries))
        self.setText("<br>".join(lines))
        self.setVisible(bool(lines))
        self._fit_height()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_height()

    def _fit_height(self) -> None:
        self.setMinimumHeight(self.heightForWidth(self.width()) if self.isVisible() else 0)

    def plain_text(self) -> str:
        """The strip as a screen reader or a test reads it."""
        import html

        return html.unescape(re.sub(r"<[^>]+>", "", self.text().replace("<br>", "\n")))
