"""CHATROOM_EXIT_AFTER_FIRST_PAINT, the start-up benchmark's hook, in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from chatroom.app import EXIT_AFTER_FIRST_PAINT, seconds_since_start


def test_the_app_prints_its_time_to_first_paint_and_quits(private_dirs: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", EXIT_AFTER_FIRST_PAINT: "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "chatroom"], env=env, capture_output=True, text=True, timeout=60
    )
    wall_s = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"first paint: (\d+\.\d{3})\n", result.stdout)
    assert match is not None, result.stdout
    # From process start, so at most the whole run; a window takes some time to paint.
    assert 0.01 < float(match.group(1)) <= wall_s
    assert "Traceback" not in result.stderr


def test_seconds_since_start_counts_from_the_process_start() -> None:
    script = "from chatroom.app import seconds_since_start; print(seconds_since_start())"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    wall_s = time.perf_counter() - started
    # The kernel counts in 10 ms ticks, rounded down: allow one.
    assert 0 < float(result.stdout) <= wall_s + 0.01
    before = seconds_since_start()
    time.sleep(0.02)
    assert seconds_since_start() - before >= 0.01
