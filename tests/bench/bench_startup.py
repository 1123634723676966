"""Benchmark: time from process start to the first painted main window.

Three programs start in turn, `--runs` times each after one untimed warm-up
round: a bare PySide6 window (QApplication and an empty QMainWindow of
Chatroom's size), Chatroom from the source tree (`python -m chatroom`, private
XDG dirs, no key) and, when packaging/build-linux.sh has built it, the frozen
bundle dist/chatroom/chatroom. Each prints a line when its main window has
painted for the first time (Chatroom: CHATROOM_EXIT_AFTER_FIRST_PAINT=1) and
quits. The time is taken here, from just before the spawn to reading that
line, so it counts the interpreter's own start as well. Bytecode is cached
(as pip and the bundle do), in a private PYTHONPYCACHEPREFIX.

Runs under the offscreen platform and, when Xvfb is installed, on a private
Xvfb server (the xcb platform, a real X window). Prints a table per
platform: median and min per program, and the median's ratio to the bare
window's in the same run (target <= 2).

    .venv/bin/python tests/bench/bench_startup.py [--runs 7] [--platforms offscreen,xcb]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "chatroom" / "chatroom"
TARGET_RATIO = 2.0

# The reference: what any PySide6 app pays before its first paint.
BARE_WINDOW = """
import sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaintWatch(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            QTimer.singleShot(0, report)  # once the whole window has painted
        return False

def report():
    print("first paint", flush=True)
    window.close()

app = QApplication(sys.argv)
window = QMainWindow()
window.setWindowTitle("bare")
window.resize(1200, 780)
watch = FirstPaintWatch()
window.installEventFilter(watch)
window.show()
sys.exit(app.exec())
"""


@dataclass
class Program:
    name: str
    argv: list[str]
    times_s: list[float] = field(default_factory=list)


def time_to_first_paint(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning `argv` to its first line on stdout; it must then exit 0."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert child.stdout is not None
        line = child.stdout.readline()
        elapsed_s = time.perf_counter() - started
        child.stdout.read()
        status = child.wait(timeout=60)
        if not line or status != 0:
            errors.seek(0)
            raise RuntimeError(f"{argv} printed {line!r}, exit {status}:\n{errors.read().decode()}")
    return elapsed_s


@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    """A private Xvfb server on a Unix socket only; yields its DISPLAY."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            display = numbers.readline().strip()
        if not display:
            raise RuntimeError("Xvfb did not start")
        yield f":{display}"
    finally:
        server.terminate()
        server.wait()


def run_platform(programs: list[Program], env: dict[str, str], runs: int) -> None:
    for program in programs:  # warm-up: caches, .pyc files, the app's first settings file
        time_to_first_paint(program.argv, env)
    for _ in range(runs):  # alternating, so drifts in machine load hit every program alike
        for program in programs:
            program.times_s.append(time_to_first_paint(program.argv, env))


def print_table(title: str, programs: list[Program], skipped: list[str]) -> None:
    bare = statistics.median(programs[0].times_s)
    print(f"\n{title}\n")
    print("| program | runs | median (s) | min (s) | median / bare |")
    print("| --- | --- | --- | --- | --- |")
    for program in programs:
        median = statistics.median(program.times_s)
        ratio = median / bare
        verdict = "" if program is programs[0] else (" (target <= 2)" if ratio <= TARGET_RATIO else " (target <= 2: missed)")
        print(f"| {program.name} | {len(program.times_s)} | {median:.3f} | {min(program.times_s):.3f} | {ratio:.2f}{verdict} |")
    for note in skipped:
        print(f"| {note} | - | - | - | - |")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PySide6 {metadata.version('PySide6-Essentials')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--platforms", default="offscreen,xcb", help="comma-separated: offscreen, xcb (Xvfb)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="chatroom-bench-")
    hidden = ("OPENROUTER_API_KEY", "DISPLAY", "WAYLAND_DISPLAY", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    # Compiled bytecode is cached, as for an installed app, but outside the tree.
    env["PYTHONPYCACHEPREFIX"] = f"{home}/pycache"
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        env[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"
    env["CHATROOM_EXIT_AFTER_FIRST_PAINT"] = "1"
    print(f"Machine: {machine()}")
    for name in args.platforms.split(","):
        programs = [
            Program("bare PySide6 window", [sys.executable, "-c", BARE_WINDOW]),
            Program("Chatroom, source venv", [sys.executable, "-m", "chatroom"]),
        ]
        skipped = []
        if BUNDLE.exists():
            programs.append(Program("Chatroom, frozen bundle", [str(BUNDLE)]))
        else:
            skipped.append(f"Chatroom, frozen bundle: skipped, {BUNDLE.relative_to(ROOT)} not built")
        if name == "xcb":
            if shutil.which("Xvfb") is None:
                print("\nxcb: skipped, Xvfb is not installed")
                continue
            with xvfb() as display:
                run_platform(programs, {**env, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display}, args.runs)
            title = "QT_QPA_PLATFORM=xcb on Xvfb (a real X window)"
        else:
            run_platform(programs, {**env, "QT_QPA_PLATFORM": name}, args.runs)
            title = f"QT_QPA_PLATFORM={name}"
        print_table(title, programs, skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
