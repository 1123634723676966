"""HistoryWriter: saves the room to the history store without blocking the window.

Every store call runs on one worker thread (a sqlite3 connection belongs to
the thread that opened it) in submission order. What is handed over is a
snapshot taken on the GUI thread, so a reply that keeps streaming never
changes under the writer. Failures come back as a signal; nothing raises into
the streaming path, which goes on whether or not history can be saved.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Signal

from chatroom.core.errors import DamagedStore, StoreError
from chatroom.core.room import Reply, Room, Turn

if TYPE_CHECKING:  # imported on the store's thread when it opens, after the first paint (start-up)
    import concurrent.futures

    from chatroom.core.store import Store

__all__ = ["HistoryWriter", "room_snapshot"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def room_snapshot(room: Room, *, turns: list[int] | None = None) -> Room:
    """A copy of the room's settings, seats and the given turns (all by default)."""
    indexes = range(len(room.turns)) if turns is None else turns
    copied_turns: list[Turn] = []
    for index in indexes:
        turn = room.turns[index]
        replies = {seat_id: reply.snapshot() for seat_id, reply in turn.replies.items()}
        copied_turns.append(dataclasses.replace(turn, replies=replies))
    return dataclasses.replace(
        room,
        seats=[dataclasses.replace(seat, params=dict(seat.params)) for seat in room.seats],
        params=dict(room.params),
        turns=copied_turns,
    )


class HistoryWriter(QObject):
    """Queues saves of rooms, turns and replies for the store's thread.

    Signals:
        failed(str): a save failed; the message says why (shown as a banner).
        saved(): a save succeeded after an earlier failure (the banner can go).
        notice(str): something the user should know that needs no action
            (a damaged history file was set aside).
    """

    failed = Signal(str)
    saved = Signal()
    notice = Signal(str)

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = path
        self._store: Store | None = None
        self._failing = False
        self._closed = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None  # see _pool

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The store's thread, made at the first save, after the first paint (start-up)."""
        if self._executor is None:
            import concurrent.futures  # 2 ms the first frame does not need

            # One thread: sqlite3 connections must stay on the thread that opened them.
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history")
        return self._executor

    def _open(self) -> Store:
        from chatroom.core.store import Store  # deferred: see the imports

        if self._store is None:
            try:
                self._store = Store(self._path)
            except DamagedStore as exc:
                # Never delete it: moved aside (with the time in its name) for recovery.
                kept = Store.set_aside(self._path)
                self._store = Store(self._path)
                # The store's message tells the user to move the file aside: done here.
                log.warning("%s", exc)
                self.notice.emit(
                    f"The history file was damaged and could not be read. It was moved to {kept} "
                    "for recovery, and a new history was started."
                )
        return self._store

    def submit(self, action: Callable[[Store], T]) -> concurrent.futures.Future[T]:
        """Run `action(store)` on the store's thread; a StoreError or OSError is reported."""

        def run() -> T:
            try:
                result = action(self._open())
            except (StoreError, OSError) as exc:
                self._failing = True
                self.failed.emit(str(exc))  # queued to the GUI thread by Qt
                raise
            if self._failing:
                self._failing = False
                self.saved.emit()
            return result

        return self._pool().submit(run)

    def save_room(self, room: Room) -> None:
        """The whole room (settings, seats, every turn): after a change of seats or an import."""
        snapshot = room_snapshot(room)
        self.submit(lambda store: store.save_room(snapshot))

    def save_room_settings(self, room: Room) -> None:
        """Title, seats and parameters only: cheap whatever the room's length."""
        snapshot = room_snapshot(room, turns=[])
        self.submit(lambda store: store.save_room(snapshot))

    def save_turn(self, room: Room, turn_index: int) -> None:
        """The room's settings and seats, and one turn with its replies."""
        snapshot = room_snapshot(room, turns=[turn_index])
        padded = _padded(snapshot, turn_index, snapshot.turns[0])
        self.submit(lambda store: store.save_turn(padded, turn_index))

    def save_reply(self, room_id: str, turn_index: int, reply: Reply, seat_label: str) -> None:
        """One reply as it stands (the hot path: at most once a second while streaming)."""
        snapshot = reply.snapshot()
        self.submit(lambda store: store.save_reply(room_id, turn_index, snapshot, seat_label=seat_label))

    def close(self) -> None:
        """Finish every queued save, then close the store (on exit: nothing is lost)."""
        if self._closed:
            return
        self._closed = True
        self._pool().submit(self._close_store)
        self._pool().shutdown(wait=True)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _padded(meta: Room, turn_index: int, turn: Turn) -> Room:
    """A room whose turn list has `turn` at `turn_index` (earlier ones are not saved)."""
    placeholders = [Turn("") for _ in range(turn_index)]
    return dataclasses.replace(meta, turns=[*placeholders, turn])
