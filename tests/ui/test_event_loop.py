"""The qasync loop of ui/event_loop.py: cancelled callbacks free their Qt timers."""

from __future__ import annotations

import asyncio

from pytestqt.qtbot import QtBot

from chatroom.ui.event_loop import _KillingTimer
from tests.ui.conftest import run_until_done


def test_a_cancelled_callback_frees_its_qt_timer_at_once(qt_loop: asyncio.AbstractEventLoop) -> None:
    timer = qt_loop._timer  # type: ignore[attr-defined]  # qasync's, replaced by ours
    assert isinstance(timer, _KillingTimer)
    before = timer.pending()
    # As httpx does on every read of a stream: arm a long timeout, cancel it.
    handles = [qt_loop.call_later(120, print) for _ in range(1000)]
    assert timer.pending() == before + 1000
    for handle in handles:
        handle.cancel()
    assert timer.pending() == before


def test_callbacks_still_run_and_cancelling_after_the_run_is_harmless(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop
) -> None:
    ran: list[int] = []

    async def main() -> None:
        handle = qt_loop.call_later(0.01, ran.append, 1)
        qt_loop.call_later(0.01, ran.append, 2).cancel()
        await asyncio.sleep(0.05)
        handle.cancel()  # already ran: nothing to free

    run_until_done(qtbot, qt_loop, main())
    assert ran == [1]
