"""Benchmark: memory (RSS) of the idle app with a saved room, and over 50 streamed turns.

Idle: a room of 4 seats and 20 turns (Markdown replies of `--reply-kb` KB
each: a heading, paragraphs, a list, a Python block) is saved with the store
into private XDG dirs; then `python -m chatroom --base-url <fake server>`
starts on them, reopens that room (every pane shows the 20 turns) and sits
idle. VmRSS is read from /proc once it has settled (no change over 0.5 MB
for 2 s), with VmHWM, the peak. A bare PySide6 window and Chatroom with no
history are measured the same way for reference, and the frozen bundle
(dist/chatroom/chatroom) too when packaging/build-linux.sh has built it.
Under offscreen and, when Xvfb is installed, on Xvfb. Target <= 130 MB.

Streaming: in this process, a window with 4 seats of fake/lorem (the fake
server runs in its own process) streams `--turns` turns of `--tokens` words
each, saving to a history file as the app does. Every 10th turn, once
rendering has finished and after gc.collect(): VmRSS, the same after
malloc_trim(0) (memory glibc keeps but the app no longer uses), the Qt
objects under the window, the reply text so far and the characters the panes
show (they show the last turns only: chatroom/ui/shown_turns.py); at the end,
the same after File > New room has emptied the panes (what the old room
held). Once the panes show all they may, growth per turn should be about the
text per turn, and Qt objects should not grow per turn (no leak).

    .venv/bin/python tests/bench/bench_memory.py [--turns 50 --tokens 2000 --rate 1000 --reply-kb 2,8 --only idle|streaming --trace]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_startup import BUNDLE, machine, xvfb  # noqa: E402  (after the path is set)

SEATS = 4
IDLE_TURNS = 20
TARGET_IDLE_MB = 130.0
SETTLED_MB = 0.5
SETTLED_S = 2.0

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
)
CODE = "```python\n" + "\n".join(f"def step_{i}(value: int) -> int:\n    return value * {i}" for i in range(8)) + "\n```"

# What any PySide6 app holds with one window up: the reference for the idle row.
BARE_WINDOW = """
import sys
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
window = QMainWindow()
window.resize(1200, 780)
window.show()
sys.exit(app.exec())
"""


def sample_reply(size: int, n: int) -> str:
    """Markdown of about `size` characters: a heading, paragraphs, a list, a code block."""
    parts = [f"## Answer {n}", CODE, "\n".join(f"- point {i}: {LOREM[:60]}" for i in range(5))]
    while sum(len(p) + 2 for p in parts) < size:
        parts.append(f"**Part {len(parts)}.** {LOREM} {LOREM}")
    return "\n\n".join(parts)


def save_idle_room(data_home: Path, reply_kb: int) -> int:
    """The 4-seat, 20-turn room, saved where the app's history lives under `data_home`; its text bytes."""
    from chatroom.core import paths
    from chatroom.core.room import ReplyState, Room
    from chatroom.core.store import Store

    room = Room(title="memory benchmark")
    seats = [room.add_seat(f"fake/lorem?seat={i}") for i in range(SEATS)]
    for n in range(IDLE_TURNS):
        turn = room.start_turn(f"Question {n}: explain the topic with an example.")
        for seat in seats:
            reply = turn.replies[seat.id]
            reply.append_text(sample_reply(reply_kb * 1024, n))
            reply.move_to(ReplyState.DONE)
    os.environ["XDG_DATA_HOME"] = str(data_home)  # paths reads it at each call
    paths.database_path().parent.mkdir(parents=True, exist_ok=True)
    with Store(paths.database_path()) as store:
        store.save_room(room)
    return sum(len(r.text.encode()) for t in room.turns for r in t.replies.values())


def status_kb(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def settled_rss_mb(pid: int, timeout_s: float = 60.0) -> tuple[float, float]:
    """VmRSS and VmHWM (MB) once RSS moved less than SETTLED_MB for SETTLED_S."""
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        now = time.monotonic()
        samples.append((now, status_kb(pid, "VmRSS")))
        recent = [kb for at, kb in samples if now - at <= SETTLED_S]
        if now - started > SETTLED_S + 1 and max(recent) - min(recent) <= SETTLED_MB * 1024:
            return samples[-1][1] / 1024, status_kb(pid, "VmHWM") / 1024
        time.sleep(0.2)
    raise RuntimeError(f"RSS did not settle in {timeout_s:.0f} s")


def idle_rss(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        return settled_rss_mb(child.pid)
    finally:
        child.terminate()
        _, errors = child.communicate(timeout=30)
        # The bare window has no SIGTERM handler; Chatroom closes cleanly with 0.
        if child.returncode not in (0, -signal.SIGTERM) or "Traceback" in errors:
            raise RuntimeError(f"{argv} exit {child.returncode}:\n{errors}")


@contextlib.contextmanager
def fake_server() -> Iterator[str]:
    """The fake OpenRouter in its own process, so its memory and CPU are not ours."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openrouter"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait()


def print_idle(reply_kbs: list[int], base_url: str, home: Path) -> None:
    """One row per program and room: a bare window, Chatroom with no history, with each room."""
    runs: list[tuple[str, list[str], Path | None, float]] = [
        ("bare PySide6 window", [sys.executable, "-c", BARE_WINDOW], None, 0.0)
    ]
    rooms: list[tuple[str, Path, float]] = [("no history", home / "empty", 0.0)]
    for kb in reply_kbs:
        data_home = home / f"room-{kb}kb"
        text_bytes = save_idle_room(data_home, kb)
        rooms.append((f"{IDLE_TURNS} turns x {SEATS} seats, {kb} KB replies", data_home, text_bytes / 1e6))
    apps = [("source venv", [sys.executable, "-m", "chatroom"])]
    if BUNDLE.exists():
        apps.append(("frozen bundle", [str(BUNDLE)]))
    for app_name, app_argv in apps:
        for room_name, data_home, text_mb in rooms:
            runs.append((f"Chatroom ({app_name}), {room_name}", [*app_argv, "--base-url", base_url], data_home, text_mb))
    print(f"\nIdle, settled RSS (target <= {TARGET_IDLE_MB:.0f} MB with {SEATS} seats and {IDLE_TURNS} turns)\n")
    print("| platform | program | reply text (MB) | RSS (MB) | peak RSS (MB) |")
    print("| --- | --- | --- | --- | --- |")
    for platform in ("offscreen", "xcb"):
        env = {**os.environ, "QT_QPA_PLATFORM": platform}
        with contextlib.ExitStack() as stack:
            if platform == "xcb":
                if shutil.which("Xvfb") is None:
                    print("| xcb | skipped: Xvfb is not installed | - | - | - |")
                    continue
                env["DISPLAY"] = stack.enter_context(xvfb())
            for name, argv, room_home, text_mb in runs:
                rss, peak = idle_rss(argv, {**env, "XDG_DATA_HOME": str(room_home)} if room_home else env)
                verdict = " (missed)" if text_mb and rss > TARGET_IDLE_MB else ""
                print(f"| {platform} | {name} | {text_mb:.2f} | {rss:.1f}{verdict} | {peak:.1f} |")


@dataclass
class Checkpoint:
    turn: int
    rss_mb: float
    trimmed_mb: float
    qt_objects: int
    text_bytes: int
    shown_chars: int


def rss_mb() -> float:
    return status_kb("self", "VmRSS") / 1024


def malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def stream_turns(args: argparse.Namespace, base_url: str, home: Path) -> tuple[Checkpoint, list[Checkpoint], set[str]]:
    """Stream the turns in this process; the checkpoint before the first turn and every 10th."""
    from PySide6.QtCore import QObject, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from chatroom.app import create_window
    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings
    from chatroom.ui.event_loop import create_event_loop

    # The offscreen platform's complaint about size hints, once per pane and turn.
    qInstallMessageHandler(lambda kind, context, text: None if "propagateSizeHints" in text else print(text, file=sys.stderr))
    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    loop = create_event_loop(app)  # the app's loop, with its timer fix
    models = [f"fake/lorem?rate={args.rate}&seat={i}" for i in range(SEATS)]
    window = create_window(
        Settings(params={"max_tokens": args.tokens}),
        home / "settings.json",
        KeyStore(environ={"OPENROUTER_API_KEY": "sk-bench"}),
        base_url=base_url,
        models=models,
        history_path=home / "stream.sqlite3",
    )
    window.show()

    snapshots: list[tracemalloc.Snapshot] = []
    states: set[str] = set()

    async def checkpoint(turn: int) -> Checkpoint:
        await asyncio.sleep(0.5)  # the views' last renders and the history's last saves
        gc.collect()
        before = rss_mb()
        malloc_trim()
        trimmed = rss_mb()
        if tracemalloc.is_tracing():
            snapshots.append(tracemalloc.take_snapshot())
        room = window.session.room
        text = sum(len(r.text.encode()) + len(t.prompt.encode()) for t in room.turns for r in t.replies.values())
        shown = sum(pane.view.document().characterCount() for pane in window.panes.values())
        return Checkpoint(turn, before, trimmed, len(window.findChildren(QObject)), text, shown)

    async def run() -> tuple[Checkpoint, list[Checkpoint]]:
        await asyncio.sleep(1.0)  # the first paint and the catalogue
        start = await checkpoint(0)
        points = []
        for turn in range(1, args.turns + 1):
            window.prompt_edit.setPlainText(f"Turn {turn}: tell me more.")
            window.on_send_button_clicked()
            while window.session.is_busy:
                await asyncio.sleep(0.05)
            if turn % 10 == 0:
                points.append(await checkpoint(turn))
                print(f"  turn {turn}: {points[-1].rss_mb:.1f} MB", file=sys.stderr)
        states.update(r.state.value for t in window.session.room.turns for r in t.replies.values())
        # What the room and its views held: a new room empties the panes.
        window.on_new_room_triggered()
        await asyncio.sleep(1.0)  # deleteLater of the old panes
        points.append(await checkpoint(-1))
        window.close()
        await window.session.aclose()
        return start, points

    with loop:  # type: ignore[attr-defined]  # qasync's loop is a context manager
        start, points = loop.run_until_complete(run())
    if len(snapshots) > 3:  # turn 0, 10, 20, ..., then the new room
        print_python_growth(snapshots[1], snapshots[-2], points[-2].turn - points[0].turn)
    return start, points, states


def print_python_growth(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, turns: int) -> None:
    """Where Python's own memory grew between two checkpoints (Qt's is not traced)."""
    stats = last.compare_to(first, "lineno")
    total_kb = sum(s.size_diff for s in stats) / 1024
    print(f"\nPython allocations (tracemalloc): {total_kb / turns:.0f} KB per turn in all; the largest:\n")
    print("| where | KB per turn | blocks per turn |")
    print("| --- | --- | --- |")
    for stat in stats[:12]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"| {where} | {stat.size_diff / 1024 / turns:.1f} | {stat.count_diff / turns:.0f} |")


def print_streaming(args: argparse.Namespace, base_url: str, home: Path) -> None:
    start, points, states = stream_turns(args, base_url, home)
    traced = " (RSS inflated by tracemalloc's own records)" if args.trace else ""
    print(
        f"\nStreaming, {SEATS} seats x {args.tokens} tokens of fake/lorem per turn "
        f"(@ {args.rate} tokens/s), in one process; reply states: {', '.join(sorted(states))}{traced}\n"
    )
    print("| after turn | RSS (MB) | after malloc_trim (MB) | Qt objects | reply text (MB) | shown in the panes (M chars) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p in [start, *points]:
        turn = "then a new room" if p.turn < 0 else str(p.turn)
        print(
            f"| {turn} | {p.rss_mb:.1f} | {p.trimmed_mb:.1f} | {p.qt_objects} | {p.text_bytes / 1e6:.2f} "
            f"| {p.shown_chars / 1e6:.2f} |"
        )
    points = points[:-1]
    # From turn 10, and over the second half, once the panes show all they may.
    spans = [(points[0] if len(points) > 1 else start, points[-1])]
    if len(points) > 3:
        spans.append((points[(len(points) - 1) // 2], points[-1]))
    print_growth(spans)


def print_growth(spans: list[tuple[Checkpoint, Checkpoint]]) -> None:
    """Per turn over each span (first, last checkpoint): the reply text, and memory against it."""
    header = " | ".join(f"turns {a.turn} to {b.turn} (KB)" for a, b in spans)
    print(f"\n| per turn | {header} |")
    print("| --- |" + " --- |" * len(spans))
    text_kb = [(b.text_bytes - a.text_bytes) / 1024 / (b.turn - a.turn) for a, b in spans]
    print("| reply text | " + " | ".join(f"{kb:.0f}" for kb in text_kb) + " |")
    measures: list[tuple[str, Callable[[Checkpoint], float]]] = [
        ("RSS growth", lambda p: p.rss_mb),
        ("RSS growth after malloc_trim", lambda p: p.trimmed_mb),
    ]
    for name, mb in measures:
        growth = [(mb(b) - mb(a)) * 1024 / (b.turn - a.turn) for a, b in spans]
        cells = " | ".join(f"{kb:.0f} ({kb / text:.1f} x the text)" for kb, text in zip(growth, text_kb, strict=True))
        print(f"| {name} | {cells} |")
    objects = " | ".join(f"{(b.qt_objects - a.qt_objects) / (b.turn - a.turn):+.1f} per turn" for a, b in spans)
    print(f"| Qt objects | {objects} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=1000, help="tokens/s per seat")
    parser.add_argument("--reply-kb", default="2,8", help="sizes of the idle room's replies, one room each (KB)")
    parser.add_argument("--only", choices=("idle", "streaming"), help="run one of the two parts")
    parser.add_argument(
        "--trace", action="store_true", help="also list the Python allocations that grew most (tracemalloc; slower)"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="chatroom-bench-"))
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        os.environ[f"XDG_{name}_HOME"] = str(home / name.lower())
    os.environ.pop("OPENROUTER_API_KEY", None)
    os.environ.pop("DISPLAY", None)
    if args.trace:
        tracemalloc.start()
    print(f"Machine: {machine()}")
    with fake_server() as base_url:
        if args.only != "streaming":
            print_idle([int(kb) for kb in args.reply_kb.split(",")], base_url, home)
        if args.only != "idle":
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            print_streaming(args, base_url, home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
