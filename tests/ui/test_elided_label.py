"""ElidedLabel drops whole parts, never cuts a number."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from chatroom.ui.elided_label import ElidedLabel

LINE = "TTFT 0.42 s · 87 tok/s · 1,234 → 567 tok · $0.0012"


def label_of_width(qtbot: QtBot, width: int) -> ElidedLabel:
    label = ElidedLabel(" · ")
    qtbot.addWidget(label)
    label.set_full_text(LINE)
    label.resize(width, label.sizeHint().height())
    label.show()
    return label


def test_a_wide_label_shows_the_whole_line(qtbot: QtBot) -> None:
    label = label_of_width(qtbot, 1000)
    assert label.text() == LINE


def test_a_narrow_label_shows_whole_parts_then_an_ellipsis(qtbot: QtBot) -> None:
    label = ElidedLabel(" · ")
    qtbot.addWidget(label)
    label.set_full_text(LINE)
    two_parts = label.fontMetrics().horizontalAdvance("TTFT 0.42 s · 87 tok/s …")
    label.resize(two_parts + 10, 20)
    label.show()
    assert label.text() == "TTFT 0.42 s · 87 tok/s …"
    assert label.toolTip() == label.full_text == LINE  # all of it, on hover and for screen readers
    assert label.accessibleDescription() == LINE
    label.resize(1000, 20)  # and back when there is room again
    assert label.text() == LINE


def test_a_part_wider_than_the_label_is_elided_by_qt(qtbot: QtBot) -> None:
    label = label_of_width(qtbot, 30)
    assert label.text().endswith("…") and "·" not in label.text()
