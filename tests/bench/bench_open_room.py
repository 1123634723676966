"""Benchmark: open a saved room of 10,000 messages, from the store to the first paint.

2,500 turns x 3 seats of about 1.5 KB Markdown replies are saved, then the
window loads the room (the store's thread) and shows it (panes show the last
turns). Prints the time of each step and the total; target 0.3 s.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_open_room.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

REPLY = (
    "Here is a **short** answer with a list:\n\n- one\n- two\n\n"
    "```python\nprint('hello')\n```\n\n" + "Some closing words about the topic. " * 30
)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="chatroom-bench-")
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        os.environ[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"
    from PySide6.QtWidgets import QApplication

    from chatroom.app import create_window
    from chatroom.core.room import ReplyState, Room
    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings
    from chatroom.core.store import Store

    db = Path(home) / "bench.sqlite3"
    room = Room()
    seats = [room.add_seat(f"bench/model-{i}") for i in range(3)]
    for n in range(2500):
        turn = room.start_turn(f"Question number {n}?")
        for seat in seats:
            reply = turn.replies[seat.id]
            reply.append_text(REPLY)
            reply.move_to(ReplyState.DONE)
    with Store(db) as store:
        store.save_room(room)

    app = QApplication([])
    window = create_window(Settings(), Path(home) / "settings.json", KeyStore(environ={}))
    window.show()
    app.processEvents()
    started = time.perf_counter()
    with Store(db) as store:
        loaded = store.load_room(room.id)
    loaded_s = time.perf_counter() - started
    window.open_room(loaded)
    shown_s = time.perf_counter() - started
    window.repaint()
    app.processEvents()
    painted_s = time.perf_counter() - started
    messages = sum(1 + len(t.replies) for t in loaded.turns)
    print("| step (10,000-message room) | cumulative time (s) |")
    print("| --- | --- |")
    print(f"| load from the store ({messages} messages) | {loaded_s:.3f} |")
    print(f"| panes built (last turns shown) | {shown_s:.3f} |")
    print(f"| first paint | {painted_s:.3f} (target 0.3) |")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
