"""The asyncio loop on Qt's event loop (qasync), set up the way asyncio's own is.

qasync replaces `run_forever` and so skips what asyncio's does there: it never
installs the async-generator hooks. Without them an async generator that is
abandoned mid-iteration (httpx's line iterators, when a stream ends early) is
closed synchronously by the garbage collector, outside any task, and httpx
fails with "async generator ignored GeneratorExit". With them, it is closed
in a task of its own, as on a plain asyncio loop.

qasync also keeps a cancelled callback's Qt timer until its deadline. Every
read of a stream arms a read timeout (120 s) and cancels it at once, so a
streaming room piled up ~6,000 live Qt timers a turn (180,000 after 50 turns
of 4 seats, each with its handle). The loop here kills the Qt timer when its
callback is cancelled.
"""

from __future__ import annotations

import asyncio
import sys
import weakref

import qasync
from PySide6.QtCore import QTimerEvent
from PySide6.QtWidgets import QApplication

__all__ = ["create_event_loop", "shutdown_event_loop"]

# qasync keeps its executor in a private attribute; remember ours to stop it.
_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, qasync.QThreadExecutor] = (
    weakref.WeakKeyDictionary()
)


class _KillableHandle(asyncio.Handle):
    """A callback whose Qt timer goes when it is cancelled (same layout as Handle)."""

    __slots__ = ()

    def cancel(self) -> None:
        if not self._cancelled:
            timer = getattr(getattr(self, "_loop", None), "_timer", None)
            if isinstance(timer, _KillingTimer):
                timer.forget(self)
        super().cancel()


class _KillingTimer(qasync._SimpleTimer):  # type: ignore[misc]  # private, untyped
    """qasync's timer, but a cancelled callback's Qt timer is killed at once."""

    def __init__(self) -> None:
        super().__init__()
        self._timer_ids: dict[asyncio.Handle, int] = {}

    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        handle = super().add_callback(handle, delay)
        # qasync registers the handle under the id startTimer just returned: the newest entry.
        self._timer_ids[handle] = next(reversed(self._SimpleTimer__callbacks))
        if type(handle) is asyncio.Handle:
            handle.__class__ = _KillableHandle
        return handle

    def timerEvent(self, event: QTimerEvent) -> None:  # noqa: N802 - Qt's name
        handle = self._SimpleTimer__callbacks.get(event.timerId())
        if handle is not None:
            self._timer_ids.pop(handle, None)
        super().timerEvent(event)

    def forget(self, handle: asyncio.Handle) -> None:
        timer_id = self._timer_ids.pop(handle, None)
        if timer_id is not None and self._SimpleTimer__callbacks.pop(timer_id, None) is not None:
            self.killTimer(timer_id)

    def pending(self) -> int:
        """How many Qt timers wait (for tests)."""
        return len(self._SimpleTimer__callbacks)


def create_event_loop(app: QApplication, *, already_running: bool = False) -> asyncio.AbstractEventLoop:
    """A qasync loop for `app`, set as the current loop, with asyncgen hooks and a thread pool."""
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app, already_running=already_running)
    # Private: with another qasync, or once its timer holds callbacks, keep its own.
    if hasattr(qasync, "_SimpleTimer") and not getattr(loop._timer, "_SimpleTimer__callbacks", True):  # type: ignore[attr-defined]
        loop._timer = _KillingTimer()  # type: ignore[attr-defined]
    executor = qasync.QThreadExecutor()
    loop.set_default_executor(executor)
    _executors[loop] = executor
    asyncio.set_event_loop(loop)
    assert isinstance(loop, asyncio.BaseEventLoop)
    # The hooks asyncio.BaseEventLoop.run_forever installs (private, but stable since 3.6).
    sys.set_asyncgen_hooks(
        firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]  # private
        finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]  # private
    )
    return loop


def shutdown_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Stop the thread pool of a loop that is never closed (tests): Qt aborts at
    exit if one of its QThreads still runs. Closing a loop does this itself."""
    executor = _executors.pop(loop, None)
    if executor is not None:
        executor.shutdown(wait=True)
