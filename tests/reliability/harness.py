"""What the fault-matrix tests share: a stall meter, a pane recorder, saved-room checks.

Every fault test asks the same questions of the window after the fault: what
the affected pane shows, that the other panes finished, that the room was
saved as shown, and that no key was logged (see conftest.py).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState, Room
from chatroom.core.store import Store
from chatroom.ui.main_window import MainWindow
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter, RecordedRequest
from tests.ui.conftest import WindowFactory, run_until_done
from tests.ui.test_main_window import send, wait_idle

__all__ = [
    "MAX_PROMPT_STALL_S",
    "MAX_STALL_S",
    "SECRETS",
    "TIMEOUT_MS",
    "WRONG_KEY",
    "PaneRecorder",
    "StallMeter",
    "assert_saved_as_shown",
    "chats_for",
    "close_and_save",
    "free_port",
    "gaps_s",
    "load_room",
    "run_turn",
    "seat",
]

TIMEOUT_MS: Final = 15_000
#: The issue's target: no freeze a user notices. StallMeter keeps the test
#: session's own heap out of the measure (see `StallMeter.start`), so the
#: same guard holds in isolation and late in a 2,000-test run.
MAX_STALL_S: Final = 0.100
#: Sending a 5 MB prompt is not there yet: the GUI thread encodes it as JSON
#: for each seat's request (22 ms a seat in one C call, holding the GIL) while
#: the history thread saves and indexes it. Measured 50-75 ms alone or with
#: this folder, 111 ms once late in the full run: 100 ms would fail now and then.
MAX_PROMPT_STALL_S: Final = 0.150
#: A well-formed key the fake server does not accept (the "invalid key" row).
WRONG_KEY: Final = "sk-or-v1-wrong-9876543210fedcba"
#: Keys that must appear in no log record, no error line and no history file.
SECRETS: Final = (TEST_KEY, WRONG_KEY)


class StallMeter(QObject):
    """The event loop's longest stall, as a 5 ms timer sees it: the widest gap between two ticks.

    A tick that comes late means the GUI thread was busy with something else
    (rendering, parsing, saving) for that long: the user saw a frozen window.
    """

    def __init__(self, interval_ms: int = 5) -> None:
        super().__init__()
        self.longest_s = 0.0
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_timer_timeout)

    def start(self) -> None:
        """Start measuring, with the heap as it stands frozen out of the garbage collector.

        A full collection walks every tracked object: late in a 2,000-test run
        the session's heap (modules, fixtures, earlier tests' windows) made one
        pass alone take over 100 ms, where the app's own heap (about 40,000
        objects with a window and two 1 MB replies) takes 12 ms. Collected then
        frozen, that heap is skipped; what the window allocates while measured
        is still collected, and its pauses count.
        """
        gc.collect()
        gc.freeze()
        self.longest_s = 0.0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        """Stop measuring; the longest gap in seconds, the one up to now included."""
        if self._timer.isActive():
            self.on_timer_timeout()
            self._timer.stop()
            gc.unfreeze()
        return self.longest_s

    @Slot()
    def on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.longest_s = max(self.longest_s, now - self._last)
        self._last = now


class PaneRecorder(QObject):
    """Everything each pane showed in its header while a turn ran: states and status lines.

    Connected after the window's own slot, so it reads each pane just after
    the window updated it.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.states: dict[str, list[ReplyState]] = {}
        self.statuses: dict[str, list[str]] = {}
        window.session.reply_changed.connect(self.on_session_reply_changed)

    @Slot(str)
    def on_session_reply_changed(self, seat_id: str) -> None:
        for pane in self._window.panes.values():
            if pane.seat_id != seat_id or pane.state is None:
                continue
            states = self.states.setdefault(pane.label, [])
            if not states or states[-1] is not pane.state:
                states.append(pane.state)
            status = pane.status_label.text()
            statuses = self.statuses.setdefault(pane.label, [])
            if status and (not statuses or statuses[-1] != status):
                statuses.append(status)


def run_turn(
    qtbot: QtBot,
    make_window: WindowFactory,
    db: Path,
    models: list[str],
    prompt: str = "tell me something",
    *,
    more_seats: Sequence[tuple[str, str]] = (),
    **window_options: object,
) -> tuple[MainWindow, PaneRecorder]:
    """A window saving to `db` with a seat per model: send one prompt, wait until every reply ended.

    `more_seats` are (model, endpoint) pairs seated through the seat bar first.
    """
    window = make_window(models, history_path=db, **window_options)
    for model, endpoint in more_seats:
        seat(qtbot, window, model, endpoint)
    recorder = PaneRecorder(window)
    send(qtbot, window, prompt)
    wait_idle(qtbot, window)
    return window, recorder


def seat(qtbot: QtBot, window: MainWindow, model: str, endpoint: str) -> None:
    """Seat a model on an endpoint through the seat bar, as a user would.

    (Seats from Settings alone would make the window reopen the last room
    after its first paint, which may land after a quick first send.)
    """
    window.endpoint_combo.setCurrentText(endpoint)
    qtbot.keyClicks(window.model_edit, model)
    qtbot.keyClick(window.model_edit, Qt.Key.Key_Return)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then let go): connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def chats_for(server: FakeOpenRouter, model: str) -> list[RecordedRequest]:
    """The chat requests the server received for exactly this model id, oldest first."""
    return [r for r in server.chat_requests() if r.model == model]


def gaps_s(requests: list[RecordedRequest]) -> list[float]:
    """Seconds between consecutive requests: the client's waits before each retry."""
    times = [r.received_at_s for r in requests]
    return [later - earlier for earlier, later in zip(times, times[1:])]


def close_and_save(qtbot: QtBot, loop: asyncio.AbstractEventLoop, window: MainWindow) -> None:
    """Close as the app does: stop, drain the session, write every queued save."""
    window.close()
    run_until_done(qtbot, loop, window.session.aclose())
    if window.session.history is not None:
        window.session.history.close()


def load_room(db: Path, room_id: str) -> Room:
    with Store(db) as store:
        return store.load_room(room_id)


def assert_saved_as_shown(db: Path, window: MainWindow) -> Room:
    """The history holds the latest turn as the panes show it, and no key anywhere.

    Call after close_and_save. Returns the saved room for further checks.
    """
    room = load_room(db, window.session.room.id)
    turn = room.turns[-1]
    for pane in window.panes.values():
        reply = turn.replies[pane.seat_id]
        assert reply.state is pane.state, pane.label
        assert reply.text == pane.reply_text(), pane.label
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    for path in files:
        data = path.read_bytes()
        assert not [s for s in SECRETS if s.encode() in data], f"a key is in {path.name}"
    return room
