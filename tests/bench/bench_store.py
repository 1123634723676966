"""Benchmark: the history store with long rooms, a big index and growing replies.

Prints a table:
- opening a room of 10,000 messages (2,500 turns × 3 seats, prompts and
  replies counted) with load_room(last_turns=50) and whole, target ≤ 0.3 s;
- full-text search over 100,000 messages (built once in a temp dir; the
  build time is reported too) for common, rare, two-word and prefix
  queries, target ≤ 50 ms;
- save_reply latency for one reply growing from 10 KB to 1 MB (one save per
  simulated second, run back to back), and the final save that indexes it;
- then a manual retry of that reply: the first save of the new attempt (which
  moves the 1 MB one into reply_attempts, keeping its index entry) and the
  saves after it, which must cost what a reply never retried costs.

    .venv/bin/python tests/bench/bench_store.py [--search-messages 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chatroom.core.room import Reply, ReplyState, Room, Usage  # noqa: E402
from chatroom.core.store import Store  # noqa: E402

SEATS: Final = ("anthropic/claude-3.5-haiku", "openai/gpt-4o-mini", "meta-llama/llama-3.1-8b")
OPEN_TARGET_S: Final = 0.3
SEARCH_TARGET_S: Final = 0.05
KB: Final = 1024

Row = tuple[str, str, str]


class Words:
    """Pseudo-words with a Zipf-like spread, so some are everywhere and some rare."""

    def __init__(self, seed: int = 7, size: int = 20_000) -> None:
        self._rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "du", "pra", "ni", "qua", "zo"]
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(self._rng.choices(syllables, k=self._rng.randint(1, 4))))
        self.vocabulary = sorted(words, key=lambda w: (len(w), w))
        self._weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(size)))

    def text(self, words: int) -> str:
        return " ".join(self._rng.choices(self.vocabulary, cum_weights=self._weights, k=words))


def make_room(words: Words, turns: int, reply_words: int) -> Room:
    """A room of `turns` turns with a done reply per seat."""
    room = Room(system_prompt="Be helpful.")
    for model in SEATS:
        room.add_seat(model)
    for _ in range(turns):
        turn = room.start_turn(words.text(20))
        for reply in turn.replies.values():
            reply.sent_at = reply.created_at
            reply.append_text(words.text(reply_words))
            reply.usage = Usage(100, reply_words, 100 + reply_words, 0.0001)
            reply.finish_reason = "stop"
            reply.move_to(ReplyState.DONE)
    return room


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(seconds: float, target: float) -> str:
    return f"≤ {ms(target)} {'ok' if seconds <= target else 'MISSED'}"


def bench_open(directory: Path, words: Words, repeat: int) -> list[Row]:
    path = directory / "long.sqlite3"
    room = make_room(words, 2_500, 250)  # 2,500 prompts + 7,500 replies of ~1.5 KB
    with Store(path) as store:
        build = timed(lambda: store.save_room(room), 1)[0]
        resave = timed(lambda: store.save_room(room), 1)[0]
    opening = timed(lambda: Store(path).close(), repeat)
    with Store(path) as store:
        last = timed(lambda: store.load_room(room.id, last_turns=50), repeat)
        whole = timed(lambda: store.load_room(room.id), max(3, repeat // 4))
        partial = store.load_room(room.id, last_turns=50)
        partial.start_turn("one more")
        turn = timed(lambda: store.save_turn(partial, len(partial.turns) - 1), repeat)
    return [
        ("10,000-message room: first save_room", ms(build), ""),
        ("  save_room again (unchanged)", ms(resave), ""),
        ("  Store(path) open + close", ms(statistics.median(opening)), ""),
        ("  load_room(last_turns=50), median", ms(statistics.median(last)),
         verdict(statistics.median(last), OPEN_TARGET_S)),
        ("  load_room() whole, median", ms(statistics.median(whole)),
         verdict(statistics.median(whole), OPEN_TARGET_S)),
        ("  save_turn of a new turn, median", ms(statistics.median(turn)), ""),
    ]


def build_search_db(path: Path, words: Words, messages: int) -> tuple[float, int]:
    """Rooms of 250 turns × 3 seats (1,000 messages each); returns (seconds, rooms)."""
    rooms = max(1, messages // 1_000)
    start = time.perf_counter()
    with Store(path) as store:
        for _ in range(rooms):
            store.save_room(make_room(words, 250, 100))
    return time.perf_counter() - start, rooms


def bench_search(directory: Path, words: Words, messages: int, repeat: int) -> list[Row]:
    path = directory / "big.sqlite3"
    build_s, rooms = build_search_db(path, words, messages)
    common, rare = words.vocabulary[0], words.vocabulary[-1]
    queries = {
        f"common word ({common})": common,
        f"rare word ({rare})": rare,
        f"two words ({words.vocabulary[5]} {words.vocabulary[900]})":
            f"{words.vocabulary[5]} {words.vocabulary[900]}",
        f"prefix ({words.vocabulary[3000][:3]})": words.vocabulary[3000][:3],
        "no match (xyzzy)": "xyzzy",
    }
    rows: list[Row] = [
        (f"{rooms * 1_000:,} messages in {rooms} rooms: build", f"{build_s:.1f} s",
         f"{path.stat().st_size / KB / KB:.0f} MB"),
    ]
    with Store(path) as store:
        for name, query in queries.items():
            hits = len(store.search(query))
            median = statistics.median(timed(lambda: store.search(query), repeat))
            rows.append((f"  search {name}: {hits} hits", ms(median), verdict(median, SEARCH_TARGET_S)))
        rows.extend(bench_saves(store, words))
    return rows


def bench_saves(store: Store, words: Words) -> list[Row]:
    """One reply growing by ~10 KB per save to 1 MB, then its final (indexed) save."""
    room = Room()
    seat = room.add_seat(SEATS[0])
    turn = room.start_turn("Write a very long text.")
    store.save_turn(room, 0)
    reply = turn.replies[seat.id]
    chunk = words.text(1_700)[: 10 * KB]
    times: dict[int, float] = {}
    while len(reply.text) < KB * KB:
        reply.append_text(chunk)
        start = time.perf_counter()
        store.save_reply(room.id, 0, reply, seat_label=seat.label)
        times[len(reply.text)] = time.perf_counter() - start
    reply.move_to(ReplyState.DONE)
    final = timed(lambda: store.save_reply(room.id, 0, reply, seat_label=seat.label), 1)[0]
    return save_rows(times, final, reply) + bench_retry(store, room, seat.label, chunk)


def bench_retry(store: Store, room: Room, label: str, chunk: str) -> list[Row]:
    """Retry the 1 MB reply: its first save moves it aside, later saves are plain again."""
    turn = room.turns[0]
    room.retry_reply(turn, turn.replies[room.seats[0].id].seat_id)
    fresh = turn.replies[room.seats[0].id]
    fresh.append_text(chunk)
    first = timed(lambda: store.save_reply(room.id, 0, fresh, seat_label=label), 1)[0]
    later = []
    for _ in range(10):
        fresh.append_text(chunk)
        later += timed(lambda: store.save_reply(room.id, 0, fresh, seat_label=label), 1)
    return [
        ("retry of that reply: first save (moves the 1 MB attempt)", ms(first), ""),
        ("  later saves of the retry (10 KB → 110 KB), median", ms(statistics.median(later)), ""),
    ]


def save_rows(times: dict[int, float], final: float, reply: Reply) -> list[Row]:
    ordered = sorted(times.values())
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

    def near(size: int) -> str:
        return ms(times[min(times, key=lambda n: abs(n - size))])

    return [
        (f"save_reply, growing 10 KB → 1 MB ({len(times)} saves): p50", ms(statistics.median(ordered)), ""),
        ("  p99", ms(p99), ""),
        ("  at 10 KB / 100 KB / 1 MB", f"{near(10 * KB)} / {near(100 * KB)} / {near(KB * KB)}", ""),
        (f"  final save when done ({len(reply.text) // KB} KB: index + metrics)", ms(final), ""),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>{value_width}}  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--search-messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    words = Words()
    with tempfile.TemporaryDirectory(prefix="chatroom-bench-store-") as directory:
        rows = bench_open(Path(directory), words, args.repeat)
        rows += bench_search(Path(directory), words, args.search_messages, args.repeat)
    print_table(rows)
    return 0 if all("MISSED" not in note for _, _, note in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
