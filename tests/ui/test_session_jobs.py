"""RoomSession.hold_jobs: the app paints its first frame before its asyncio loop runs."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from chatroom.core.room import Room
from chatroom.core.secrets import KeyStore
from chatroom.ui.session import ClientPool, RoomSession

TIMEOUT_MS = 10_000


@pytest.fixture
def session(qt_loop: asyncio.AbstractEventLoop) -> Iterator[RoomSession]:
    yield RoomSession(Room(), ClientPool({}, KeyStore(environ={})))


async def value(n: int) -> int:
    return n


def close(qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, session: RoomSession) -> None:
    closing = qt_loop.create_task(session.aclose())
    qtbot.waitUntil(closing.done, timeout=TIMEOUT_MS)
    closing.result()


def test_held_jobs_start_in_order_once_released(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, session: RoomSession
) -> None:
    results: list[int | BaseException] = []
    session.hold_jobs()
    first, second = value(1), value(2)
    session.run_job(first, results.append)
    session.run_job(second, results.append)
    assert inspect.getcoroutinestate(first) == inspect.CORO_CREATED  # not a task yet
    session.release_jobs()
    session.run_job(value(3), results.append)  # released: starts at once
    qtbot.waitUntil(lambda: results == [1, 2, 3], timeout=TIMEOUT_MS)
    close(qtbot, qt_loop, session)


def test_jobs_still_held_when_the_session_closes_are_closed_unrun(
    qtbot: QtBot, qt_loop: asyncio.AbstractEventLoop, session: RoomSession
) -> None:
    results: list[int | BaseException] = []
    session.hold_jobs()
    job = value(1)
    session.run_job(job, results.append)
    close(qtbot, qt_loop, session)
    assert inspect.getcoroutinestate(job) == inspect.CORO_CLOSED
    session.release_jobs()  # the app's loop starting late: nothing left to run
    assert results == []
