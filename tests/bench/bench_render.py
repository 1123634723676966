"""Benchmark: Markdown rendering cost per streamed delta at 2 KB vs 200 KB of reply.

Streams a reply of paragraphs, lists and a few code blocks into a shown
ReplyView in deltas of about 5 characters. Time is simulated: deltas arrive at
`--rate` per second and the view renders 10 times per simulated second (what its
throttle timer allows), called directly so the numbers are the view's work
alone. Prints a table: time per delta in append_text, in renders, and in the
event processing (layout, paint) after each render, in a window of deltas that
starts when the reply is 2 KB long and one that starts at 200 KB. Flat cost
means the 200 KB / 2 KB ratio is near 1 (target <= 1.5).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_render.py [--rate 200 --window 2000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PARAGRAPH_WORDS = "the model **streams** text with `inline code`, *emphasis* and [links](https://example.com) as it goes".split()


def sample_reply(size: int, seed: int = 7) -> str:
    """Markdown of about `size` characters: mostly paragraphs, some lists, a code block every ~10 KB."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = next_code = 0
    while length < size:
        if length >= next_code:
            lines = [f"def step_{i}(value: int) -> int:\n    return value * {i}  # scale" for i in range(10)]
            part = "```python\n" + "\n\n".join(lines) + "\n```"
            next_code = length + 10_000
        elif rng.random() < 0.2:
            part = "\n".join(f"- {' '.join(rng.choices(PARAGRAPH_WORDS, k=8))}" for _ in range(4))
        else:
            part = " ".join(rng.choices(PARAGRAPH_WORDS, k=rng.randrange(30, 90)))
        parts.append(part)
        length += len(part) + 2
    return "\n\n".join(parts) + "\n"


def deltas(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Window:
    """Costs measured over the deltas of one window."""

    start_chars: int
    deltas: int = 0
    append_s: float = 0.0
    render_s: float = 0.0
    events_s: float = 0.0
    renders: int = 0
    slowest_render_s: float = 0.0
    tail_chars: list[int] = field(default_factory=list)

    def per_delta_us(self, seconds: float) -> float:
        return seconds / max(1, self.deltas) * 1e6

    def add_render(self, render_s: float, events_s: float, tail_chars: int) -> None:
        self.render_s += render_s
        self.events_s += events_s
        self.renders += 1
        self.slowest_render_s = max(self.slowest_render_s, render_s)
        self.tail_chars.append(tail_chars)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=200, help="deltas per simulated second")
    parser.add_argument("--window", type=int, default=2000, help="deltas measured per window")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from chatroom.ui.reply_view import RENDER_INTERVAL_MS

    app = QApplication([])
    windows = [Window(2_000), Window(200_000)]
    text = sample_reply(200_000 + 5 * args.window + 1_000)
    per_render = max(1, round(args.rate * RENDER_INTERVAL_MS / 1000))
    stream(app, text, windows, per_render, args.window)
    print(f"{len(text):,} chars in {len(deltas(text)):,} deltas at {args.rate}/s; a render every {per_render} deltas")
    print_table(*windows)
    return 0


def stream(app: QApplication, text: str, windows: list[Window], per_render: int, window_deltas: int) -> None:
    """Stream `text` into a shown view, timing the deltas that fall in `windows`."""
    from chatroom.core.room import ReplyState
    from chatroom.ui.reply_view import ReplyView

    view = ReplyView("bench")
    view.resize(700, 900)
    view.show()
    app.processEvents()
    view.show_prompt("benchmark prompt")
    length = 0
    for index, delta in enumerate(deltas(text)):
        window = next((w for w in windows if w.start_chars <= length and w.deltas < window_deltas), None)
        started = time.perf_counter()
        view.append_text(delta)
        appended = time.perf_counter()
        if index % per_render == per_render - 1:
            view.on_render_timer_timeout()  # what the throttle timer calls, 10 times a simulated second
            rendered = time.perf_counter()
            app.processEvents()  # layout and paint of what changed
            if window is not None:
                window.add_render(rendered - appended, time.perf_counter() - rendered, len(view._replies[-1].unfrozen))
        if window is not None:
            window.append_s += appended - started
            window.deltas += 1
        length += len(delta)
    view.end_reply(ReplyState.DONE)


def print_table(small: Window, large: Window) -> None:
    rows: list[tuple[str, Callable[[Window], str]]] = [
        ("deltas measured", lambda w: f"{w.deltas}"),
        ("renders measured", lambda w: f"{w.renders}"),
        ("mean open tail (chars)", lambda w: f"{_mean(w.tail_chars):.0f}"),
        ("append_text per delta (us)", lambda w: f"{w.per_delta_us(w.append_s):.1f}"),
        ("render per delta (us)", lambda w: f"{w.per_delta_us(w.render_s):.1f}"),
        ("slowest render (ms)", lambda w: f"{w.slowest_render_s * 1e3:.1f}"),
        ("layout+paint per delta (us)", lambda w: f"{w.per_delta_us(w.events_s):.1f}"),
        ("view work per delta (us)", lambda w: f"{w.per_delta_us(w.append_s + w.render_s):.1f}"),
    ]
    print()
    print(f"| {'metric':<28} | {'at 2 KB':>9} | {'at 200 KB':>9} |")
    print(f"| {'-' * 28} | {'-' * 8}: | {'-' * 8}: |")
    for name, show in rows:
        print(f"| {name:<28} | {show(small):>9} | {show(large):>9} |")
    ratio = large.per_delta_us(large.append_s + large.render_s) / small.per_delta_us(small.append_s + small.render_s)
    with_events = large.per_delta_us(large.append_s + large.render_s + large.events_s) / small.per_delta_us(
        small.append_s + small.render_s + small.events_s
    )
    print()
    print(f"view work per delta, 200 KB / 2 KB: {ratio:.2f} (target <= 1.5)")
    print(f"including layout and paint:        {with_events:.2f}")


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
