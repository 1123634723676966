"""Work that waits for the window's first paint: FirstPaintWatch and the main window's use of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from chatroom.app import create_window
from chatroom.core.secrets import KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.first_paint import FirstPaintWatch
from chatroom.ui.params_panel import ParamsPanel
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter
from tests.ui.conftest import WindowFactory, run_until_done


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


def test_a_restored_window_fills_its_parameters_dock_after_the_first_paint(
    qtbot: QtBot,
    qt_loop: asyncio.AbstractEventLoop,
    make_window: WindowFactory,
    fake_server: FakeOpenRouter,
    tmp_path: Path,
) -> None:
    endpoints = [Endpoint("openrouter", fake_server.base_url, None)]
    # The very first start (no saved window state) builds the controls at once.
    first = make_window(settings=Settings(endpoints=endpoints))
    assert first.findChild(ParamsPanel) is not None
    state = bytes(first.saveState().toBase64().data()).decode()
    settings = Settings(endpoints=endpoints, params={"temperature": 0.3}, window_state=state)
    window = create_window(
        settings, tmp_path / "settings.json", KeyStore(environ={"OPENROUTER_API_KEY": TEST_KEY}),
        base_url=fake_server.base_url,
    )
    try:
        assert window.findChild(ParamsPanel) is None  # the dock holds its place, empty
        window.show()
        qtbot.waitUntil(lambda: window.findChild(ParamsPanel) is not None)
        assert window.params_panel.values() == {"temperature": 0.3}
        assert window.params_panel.isVisible()
    finally:
        window.close()
        run_until_done(qtbot, qt_loop, window.session.aclose())
        window.deleteLater()
