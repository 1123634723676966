"""Stream one long reply into a Store until killed: the child of the store's crash test.

    python -m tests.core.store_crash_child BASE_URL DB_PATH

Streams `fake/lorem?rate=400` (max_tokens 2000, about 5 s) through ChatClient
into a Room, saving the reply as the session does: at every state change and
at most once a second. Prints `received <chars>` about every 50 ms and
`saved <chars>` after each save returns, flushed at once, so the parent knows
what had reached the file when it sends SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Final

from chatroom.core.client import ChatClient
from chatroom.core.protocol import apply_event, build_request
from chatroom.core.room import Reply, ReplyState, Room
from chatroom.core.store import Store

MODEL: Final = "fake/lorem?rate=400"
MAX_TOKENS: Final = 2000
SAVE_INTERVAL_S: Final = 1.0
REPORT_INTERVAL_S: Final = 0.05


class Saver:
    """Saves a reply at each state change and at most once per SAVE_INTERVAL_S."""

    def __init__(self, store: Store, room_id: str, label: str) -> None:
        self._store = store
        self._room_id = room_id
        self._label = label
        self._state: ReplyState | None = None
        self._saved_at = 0.0
        self._reported_at = 0.0

    def on_event(self, reply: Reply) -> None:
        now = time.monotonic()
        if reply.state is not self._state or now - self._saved_at >= SAVE_INTERVAL_S:
            self.save(reply)
        if now - self._reported_at >= REPORT_INTERVAL_S:
            self._reported_at = now
            print(f"received {len(reply.text)}", flush=True)

    def save(self, reply: Reply) -> None:
        self._store.save_reply(self._room_id, 0, reply, seat_label=self._label)
        self._state, self._saved_at = reply.state, time.monotonic()
        print(f"saved {len(reply.text)}", flush=True)


async def stream(base_url: str, store: Store) -> None:
    room = Room()
    seat = room.add_seat(MODEL, params={"max_tokens": MAX_TOKENS})
    turn = room.start_turn("Write a long text.")
    store.save_turn(room, 0)
    reply = turn.replies[seat.id]
    saver = Saver(store, room.id, seat.label)
    client = ChatClient(base_url)
    reply.sent_at = time.time()
    body = build_request(seat.model, room.messages_for(seat.id, turn), room.effective_params(seat))
    try:
        async with contextlib.aclosing(client.stream_chat(body)) as events:
            async for event in events:
                apply_event(reply, event)
                saver.on_event(reply)
        reply.move_to(ReplyState.DONE)
        saver.save(reply)
    finally:
        await client.aclose()


def main() -> None:
    base_url, db_path = sys.argv[1], Path(sys.argv[2])
    with Store(db_path) as store:
        asyncio.run(stream(base_url, store))


if __name__ == "__main__":
    main()
