"""Benchmark: 8 seats of fake/lorem at 200 tokens/s for 2,000 tokens each.

Prints a table: the longest event-loop stall, the app's CPU time per 1,000
deltas, and the UI's time per delta in the first vs the last 10 % of the
reply (flat cost means last/first near 1). The fake server runs in its own
process so the CPU time measured is the app's alone.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_streaming.py [--seats 8 --tokens 2000 --rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openrouter"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    return server, base_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seats", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="chatroom-bench-")
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        os.environ[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from chatroom.app import create_window
    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings
    from chatroom.ui.pane import ReplyPane
    from chatroom.ui.session import RoomSession

    server, base_url = start_server()
    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    models = [f"fake/lorem?rate={args.rate}&seat={i}" for i in range(args.seats)]
    settings = Settings(params={"max_tokens": args.tokens})
    window = create_window(
        settings, Path(home) / "settings.json", KeyStore(environ={"OPENROUTER_API_KEY": "sk-bench"}), base_url=base_url, models=models
    )
    window.show()

    # Time spent per delta, bucketed by the delta's index within its reply.
    apply_cost: list[float] = [0.0] * (args.tokens + 1)
    counts: list[int] = [0] * (args.tokens + 1)
    delta_index: dict[str, int] = {}
    original_apply = RoomSession._apply
    original_append = ReplyPane.append_text

    def timed_apply(self: RoomSession, seat_id, reply, event) -> None:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        original_apply(self, seat_id, reply, event)
        index = delta_index.get(seat_id, 0)
        if type(event).__name__ == "Delta":
            delta_index[seat_id] = index + 1
            index = min(index, args.tokens)
            apply_cost[index] += time.perf_counter() - started
            counts[index] += 1

    def timed_append(self: ReplyPane, text: str) -> None:
        started = time.perf_counter()
        original_append(self, text)
        # Spread one flush's cost over the deltas it carried.
        words = max(1, text.count(" "))
        done = delta_index.get(self.seat_id, 0)
        share = (time.perf_counter() - started) / words
        for i in range(max(0, done - words), min(done, args.tokens)):
            apply_cost[i] += share

    RoomSession._apply = timed_apply  # type: ignore[method-assign]
    ReplyPane.append_text = timed_append  # type: ignore[method-assign]

    stalls: list[float] = []
    stall_at: list[float] = []
    last_tick = [time.perf_counter()]
    ticker = QTimer()
    ticker.setInterval(5)

    def tick() -> None:
        now = time.perf_counter()
        stalls.append(now - last_tick[0])
        stall_at.append(now)
        last_tick[0] = now

    ticker.timeout.connect(tick)

    started = [0.0]

    async def run() -> tuple[float, float]:
        await asyncio.sleep(0.3)  # let the window paint
        last_tick[0] = time.perf_counter()
        ticker.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        started[0] = wall0
        window.prompt_edit.setPlainText("benchmark")
        window.on_send_button_clicked()
        while window.session.is_busy:
            await asyncio.sleep(0.05)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        ticker.stop()
        window.close()
        await window.session.aclose()
        return cpu, wall

    try:
        with loop:
            cpu, wall = loop.run_until_complete(run())
    finally:
        server.terminate()
        server.wait()

    total_deltas = sum(counts)
    states = {p.state.value if p.state else "none" for p in window.panes.values()}
    tenth = max(1, args.tokens // 10)
    first = sum(apply_cost[:tenth]) / max(1, sum(counts[:tenth]))
    last = sum(apply_cost[args.tokens - tenth : args.tokens]) / max(1, sum(counts[args.tokens - tenth : args.tokens]))
    longest_stall_ms = (max(stalls) - 0.005) * 1000 if stalls else float("nan")
    rows = [
        ("seats x tokens @ rate", f"{args.seats} x {args.tokens} @ {args.rate}/s"),
        ("reply states", ", ".join(sorted(states))),
        ("deltas received", f"{total_deltas}"),
        ("wall time (s)", f"{wall:.2f}"),
        ("longest event-loop stall (ms)", f"{longest_stall_ms:.1f}"),
        ("  ... at (s after send)", f"{stall_at[stalls.index(max(stalls))] - started[0]:.2f}" if stalls else "n/a"),
        ("event-loop stalls > 50 ms", f"{sum(1 for g in stalls if g - 0.005 > 0.05)}"),
        ("app CPU time per 1,000 deltas (ms)", f"{cpu / max(1, total_deltas) * 1e6:.1f}"),
        ("app CPU share of one core (%)", f"{cpu / wall * 100:.1f}"),
        ("UI time per delta, first 10 % (us)", f"{first * 1e6:.1f}"),
        ("UI time per delta, last 10 % (us)", f"{last * 1e6:.1f}"),
        ("last / first", f"{last / first:.2f}" if first else "n/a"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"| {'metric'.ljust(width)} | value |")
    print(f"| {'-' * width} | ----- |")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
