"""Benchmark: what saving a streaming reply costs the GUI thread.

The writer snapshots the reply on the GUI thread (joining its text) and hands
it to the store's thread; this measures that hand-over at 10 KB, 100 KB and
1 MB and prints a table. Target: a few milliseconds at most.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_history_writer.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from chatroom.core.room import Room
    from chatroom.ui.history_writer import HistoryWriter

    app = QApplication([])  # noqa: F841  (the writer is a QObject)
    writer = HistoryWriter(Path(tempfile.mkdtemp()) / "bench.sqlite3")
    room = Room()
    seat = room.add_seat("bench/model")
    turn = room.start_turn("bench")
    writer.save_turn(room, 0)
    reply = turn.replies[seat.id]
    print("| reply size | GUI-thread cost of one save, median (ms) | max of 20 (ms) |")
    print("| --- | --- | --- |")
    for size_kb in (10, 100, 1000):
        while len(reply.text) < size_kb * 1024:
            for _ in range(200):
                reply.append_text("lorem ipsum ")
        costs = []
        for _ in range(20):
            reply.append_text("more ")
            started = time.perf_counter()
            writer.save_reply(room.id, 0, reply, seat.label)
            costs.append(time.perf_counter() - started)
        costs.sort()
        print(f"| {size_kb} KB | {costs[10] * 1000:.3f} | {costs[-1] * 1000:.3f} |")
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
