"""Work that waits for the window's first paint: FirstPaintWatch and the main window's use of it."""

from __future__ import annotations


from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from chatroom.ui.first_paint import FirstPaintWatch


class PaintCount(QObject):
    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def test_the_callback_runs_once_after_the_first_paint(qtbot: QtBot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    paints = PaintCount(widget)
    paints_seen: list[int] = []
    watch = FirstPaintWatch(widget, lambda: paints_seen.append(paints.count), fallback_ms=60_000)
    widget.show()
    qtbot.waitUntil(lambda: paints_seen != [])
    assert paints_seen[0] >= 1 and watch.fired
    widget.repaint()
    qtbot.waitUntil(lambda: paints.count >= 2)
    assert len(paints_seen) == 1


def test_a_window_shown_but_never_painted_gets_it_after_the_fallback(qtbot: QtBot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    calls: list[str] = []
    FirstPaintWatch(widget, lambda: calls.append("called"), fallback_ms=50)
    QApplication.sendEvent(widget, QShowEvent())  # shown as far as the watch knows; never painted
    qtbot.waitUntil(lambda: calls == ["called"])
    assert widget.isHidden()
