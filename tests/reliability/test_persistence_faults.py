"""Faults of the history: the app killed mid-stream, a full disk, a data folder that cannot be used."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import pytest
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState
from chatroom.core.store import INTERRUPTED_ERROR, Store
from chatroom.ui.main_window import MainWindow
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import ReplyPlan, parse_model_id, plan_reply
from tests.reliability import app_crash_child
from tests.reliability.harness import (
    TIMEOUT_MS,
    close_and_save,
    load_room,
    run_turn,
    seat,
)
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import send, wait_idle

ROOT: Final = Path(__file__).resolve().parents[2]


class ChildOutput:
    """Reads the child's `received <chars>` lines in a thread; wait_for() waits on them."""

    def __init__(self, stdout: IO[str]) -> None:
        self.received: list[int] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self._thread.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            kind, _, number = line.partition(" ")
            if kind == "received":
                with self._changed:
                    self.received.append(int(number))
                    self._changed.notify_all()

    def wait_for(self, chars: int, timeout_s: float) -> bool:
        """Wait until the child reports at least `chars` characters received."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.received) and self.received[-1] >= chars, timeout_s)

    def join(self) -> None:
        self._thread.join(5)


def lorem_reply() -> str:
    """The whole reply the child asks for, as the fake server plans it."""
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": app_crash_child.MAX_TOKENS}
    plan = plan_reply(parse_model_id(app_crash_child.MODEL), body, is_listed=True)
    assert isinstance(plan, ReplyPlan)
    return "".join(plan.content)


def run_and_kill(server: FakeOpenRouter, db: Path, tmp_path: Path, after_chars: int) -> list[int]:
    """Run the app in a child until it has `after_chars` of reply, SIGKILL it; what it reported."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OPENROUTER_API_KEY": TEST_KEY}
    command = [sys.executable, "-m", "tests.reliability.app_crash_child",
               server.base_url, str(db), str(tmp_path / "child-settings.json")]  # fmt: skip
    with (tmp_path / "child.err").open("w") as stderr, subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    ) as child:
        assert child.stdout is not None
        output = ChildOutput(child.stdout)
        streamed = output.wait_for(after_chars, timeout_s=30)
        child.send_signal(signal.SIGKILL)
        child.wait()
        output.join()
    assert streamed, (tmp_path / "child.err").read_text()
    assert child.returncode == -signal.SIGKILL
    return output.received


def test_an_app_killed_mid_stream_loses_at_most_about_a_second_of_text(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter, tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite3"
    full = lorem_reply()
    # The fake sends 300 words a second; a second of text is that many words' worth.
    second_of_text = 300 * len(full) / app_crash_child.MAX_TOKENS
    # Killed well into its reply: two and a half seconds of text, with saves behind it.
    received = run_and_kill(fake_server, db, tmp_path, int(2.5 * second_of_text))
    with Store(db) as store:
        assert store.interrupted_on_open == 1
        room_id = store.last_room_id()
        assert room_id is not None
        room = store.load_room(room_id)
    reply = room.turns[0].replies[room.seats[0].id]
    assert reply.state is ReplyState.INTERRUPTED and reply.error == INTERRUPTED_ERROR
    assert 0 < len(reply.text) < len(full) and full.startswith(reply.text)
    lost_s = (max(received) - len(reply.text)) / second_of_text
    print(f"killed: {max(received)} chars received, {len(reply.text)} saved, {lost_s:.2f} s lost")
    assert lost_s <= 1.5  # a save a second, and half a second for a loaded machine

    window = make_window(history_path=db)  # opened again: the partial reply, ready to retry
    qtbot.waitUntil(lambda: window.session.room.id == room_id, timeout=TIMEOUT_MS)
    pane = window.pane_for(app_crash_child.MODEL)
    assert (pane.state, pane.reply_text()) == (ReplyState.INTERRUPTED, reply.text)
    assert "[interrupted: partial reply]" in pane.view.toPlainText()
    assert INTERRUPTED_ERROR in pane.error_label.text()
    assert pane.retry_button.isVisible()


def flush_history(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until every save queued so far has been written (or has failed)."""
    history = window.session.history
    assert history is not None
    queued_last = history.submit(lambda store: None)  # one thread, in order: after all the others
    qtbot.waitUntil(queued_last.done, timeout=TIMEOUT_MS)


class DiskSpace:
    """Fills the disk for this process: files may not grow past a size (RLIMIT_FSIZE).

    Past it, write() fails with EFBIG (Python ignores SIGXFSZ), which SQLite
    reports as an I/O error, as it would a full disk. Running as root, no
    permission could stop the writes; this does.
    """

    def __init__(self) -> None:
        self._soft, self._hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def fill(self, files: list[Path], room_bytes: int) -> None:
        """Leave `room_bytes` of growth beyond the largest of `files`."""
        resource.setrlimit(resource.RLIMIT_FSIZE, (max(p.stat().st_size for p in files) + room_bytes, self._hard))

    def free(self) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (self._soft, self._hard))


@pytest.fixture
def disk_space() -> Iterator[DiskSpace]:
    space = DiskSpace()
    yield space
    space.free()


def save_one_room(qtbot: QtBot, window: MainWindow, prompt: str) -> str:
    """A turn, streamed and written to the history; the room's id."""
    send(qtbot, window, prompt)
    wait_idle(qtbot, window)
    flush_history(qtbot, window)
    return window.session.room.id


def assert_intact(db: Path, room_id: str, prompt: str) -> None:
    """The history file is sound and still holds the room as it was saved."""
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    room = load_room(db, room_id)
    reply = room.turns[0].replies[room.seats[0].id]
    assert (room.turns[0].prompt, reply.text, reply.state) == (prompt, prompt, ReplyState.DONE)


def test_a_full_disk_shows_a_banner_streaming_goes_on_and_saved_rooms_stay_intact(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path,
    disk_space: DiskSpace,
) -> None:
    db = tmp_path / "history.sqlite3"
    window = make_window(["fake/echo"], history_path=db)
    first_room = save_one_room(qtbot, window, "saved before the disk filled")
    huge = "fake/huge?kb=256&rate=100"
    window.on_new_room_triggered()
    seat(qtbot, window, huge, "openrouter")
    disk_space.fill([p for p in tmp_path.iterdir() if p.name.startswith(db.name)], 64 * 1024)
    send(qtbot, window, "a long reply please")
    qtbot.waitUntil(window.banner.isVisible, timeout=TIMEOUT_MS)
    assert window.banner.text().startswith("History cannot be saved:")
    assert "Replies go on streaming" in window.banner.text()
    wait_idle(qtbot, window)
    pane = window.pane_for(huge)
    assert pane.state is ReplyState.DONE and len(pane.reply_text()) == 256 * 1024  # it went on
    assert window.pane_for("fake/echo").reply_text() == "a long reply please"

    disk_space.free()  # room again: the next save works and the banner goes
    send(qtbot, window, "and now?")
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=TIMEOUT_MS)
    close_and_save(qtbot, qt_loop, window)
    assert_intact(db, first_room, "saved before the disk filled")
    after = load_room(db, window.session.room.id)
    assert after.turns[-1].prompt == "and now?"
    assert after.turns[-1].replies[pane.seat_id].state is ReplyState.DONE


def test_an_unusable_data_folder_shows_a_banner_and_streaming_goes_on(
    qtbot: QtBot, make_window: WindowFactory, qt_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    # Root ignores permissions, so "read-only" is a file where the data folder should be.
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    window, _ = run_turn(qtbot, make_window, blocker / "chatroom.sqlite3", ["fake/echo", "fake/drop"], "still works")
    qtbot.waitUntil(window.banner.isVisible, timeout=TIMEOUT_MS)
    assert window.banner.text().startswith("History cannot be saved:")
    assert str(blocker) in window.banner.text()  # where the problem is
    assert window.pane_for("fake/echo").reply_text() == "still works"
    assert window.pane_for("fake/drop").state is ReplyState.INTERRUPTED
    close_and_save(qtbot, qt_loop, window)
    assert blocker.read_text() == "a file where the data folder should be"  # nothing overwritten
