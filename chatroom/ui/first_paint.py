"""FirstPaintWatch: run a callback once a window has painted for the first time.

Work the first frame does not need (network, keyring, history) waits for it,
so the window appears as soon as Qt can draw it. The window's first paint
event comes while that frame is drawn; the callback is queued from it and runs
when the event loop is next free, once the frame is done. A zero-length timer
started before `show()` is no substitute: it fires before the first paint.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

__all__ = ["FirstPaintWatch"]


class FirstPaintWatch(QObject):
    """Calls `callback` once, just after `window` first paints.

    With `fallback_ms`, it is called that long after the window is first
    shown if no paint has come by then (a window mapped minimised or never
    exposed by the compositor), so the work is late but never lost.
    """

    def __init__(
        self, window: QWidget, callback: Callable[[], object], *, fallback_ms: int | None = None
    ) -> None:
        super().__init__(window)
        self._window = window
        self._callback = callback
        self._fallback_ms = fallback_ms
        self._fallback: QTimer | None = None
        self.fired = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            QTimer.singleShot(0, self, self._fire)  # once the whole window has painted
        elif kind == QEvent.Type.Show and self._fallback_ms is not None and self._fallback is None:
            self._fallback = QTimer(self)
            self._fallback.setSingleShot(True)
            self._fallback.timeout.connect(self._fire)
            self._fallback.start(self._fallback_ms)
        return False

    def _fire(self) -> None:
        if self.fired:
            return
        self.fired = True
        self._window.removeEventFilter(self)
        if self._fallback is not None:
            self._fallback.stop()
        self._callback()
