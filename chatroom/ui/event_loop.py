"""The asyncio loop on Qt's event loop (qasync), set up the way asyncio's own is.

qasync replaces `run_forever` and so skips what asyncio's does there: it never
installs the async-generator hooks. Without them an async generator that is
abandoned mid-iteration (httpx's line iterators, when a stream ends early) is
closed synchronously by the garbage collector, outside any task, and httpx
fails with "async generator ignored GeneratorExit". With them, it is closed
in a task of its own, as on a plain asyncio loop.
"""

from __future__ import annotations

import asyncio
import sys
import weakref

import qasync
from PySide6.QtWidgets import QApplication

__all__ = ["create_event_loop", "shutdown_event_loop"]

# qasync keeps its executor in a private attribute; remember ours to stop it.
_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, qasync.QThreadExecutor] = (
    weakref.WeakKeyDictionary()
)


def create_event_loop(app: QApplication, *, already_running: bool = False) -> asyncio.AbstractEventLoop:
    """A qasync loop for `app`, set as the current loop, with asyncgen hooks and a thread pool."""
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app, already_running=already_running)
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
