"""Command line and start-up: parse arguments, build the Qt app and the qasync loop.

Start-up stays light: Qt and the window are imported only for the GUI path,
the first frame is painted by Qt alone before asyncio and qasync load, and
keyring and network work waits until the window has painted.
CHATROOM_EXIT_AFTER_FIRST_PAINT=1 makes the GUI print the seconds from process
start to its first paint and quit: benchmarks time start-up with it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

from chatroom import __version__
from chatroom.core.errors import ChatroomError

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings
    from chatroom.ui.main_window import MainWindow
    from chatroom.ui.single_instance import SingleInstance

__all__ = ["EXIT_AFTER_FIRST_PAINT", "build_parser", "create_window", "handed_models", "main", "seconds_since_start"]

log = logging.getLogger("chatroom")

#: Set to 1 (tests/bench/bench_startup.py does), the app prints
#: `first paint: <seconds since the process started>` on stdout when the main
#: window has painted for the first time, then closes as if the user had.
EXIT_AFTER_FIRST_PAINT: Final = "CHATROOM_EXIT_AFTER_FIRST_PAINT"
_LOADED_AT: Final = time.perf_counter()


class _Parser(argparse.ArgumentParser):
    """Errors as one line on stderr (the contract), not usage plus a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chatroom",
        description="Send one prompt to several language models and compare their replies.",
        epilog=(
            "The API key is read from the system keyring (service 'chatroom', user "
            "'openrouter') or, for one run, from OPENROUTER_API_KEY."
        ),
    )
    parser.add_argument("--version", action="version", version=f"chatroom {__version__}")
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="for this run, talk to this OpenAI-compatible base URL instead of OpenRouter "
        "(e.g. http://127.0.0.1:8080/v1)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="log at debug level (prompt text included, keys never) to the log file",
    )
    parser.add_argument(
        "--model",
        metavar="ID",
        action="append",
        default=[],
        help="seat this model (repeat for several seats)",
    )
    commands = parser.add_subparsers(
        dest="command",
        title="commands for scripts (no window, no display needed)",
        parser_class=_Parser,
    )
    commands.add_parser(
        "list", help="print the saved rooms, newest first: ROOM_ID<TAB>ISO-8601 date<TAB>title"
    )
    export = commands.add_parser("export", help="write one room to a file")
    export.add_argument("room_id", metavar="ROOM_ID")
    export.add_argument("--format", required=True, choices=("md", "json", "html"))
    export.add_argument("-o", "--output", required=True, metavar="FILE", type=Path)
    return parser


def _run_list() -> int:
    """`chatroom list`: one room per line, newest first."""
    from chatroom.core import paths
    from chatroom.core.store import Store

    if not paths.database_path().exists():
        return 0  # no history yet: nothing to list
    store = Store(paths.database_path())
    try:
        rooms = sorted(store.list_rooms(), key=lambda r: r.created_at, reverse=True)
    finally:
        store.close()
    for room in rooms:
        created = datetime.datetime.fromtimestamp(room.created_at, datetime.UTC)
        title = " ".join(room.title.split())  # one line, tabs and newlines folded
        print(f"{room.id}\t{created.isoformat(timespec='seconds').replace('+00:00', 'Z')}\t{title}")
    return 0


def _run_export(room_id: str, fmt: str, output: Path) -> int:
    """`chatroom export ROOM_ID --format F -o FILE`."""
    from chatroom.core import paths
    from chatroom.core.export import export_room
    from chatroom.core.store import Store

    if not paths.database_path().exists():
        raise ChatroomError(f"No room with id {room_id!r}: there is no history yet.")
    store = Store(paths.database_path())
    try:
        room = store.load_room(room_id)
    finally:
        store.close()
    export_room(room, output, fmt)  # type: ignore[arg-type]  # argparse checked the choice
    return 0


def _run_command(args: argparse.Namespace) -> int:
    """A subcommand: errors are one line on stderr and a non-zero status."""
    try:
        if args.command == "list":
            return _run_list()
        return _run_export(args.room_id, args.format, args.output)
    except ChatroomError as exc:
        print(f"chatroom: error: {exc}", file=sys.stderr)
        return 1


def _valid_base_url(parser: argparse.ArgumentParser, url: str | None) -> str | None:
    if url is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        parser.error(f"--base-url must be an http(s) URL with a host, not {url!r}")
    return url.rstrip("/")


def create_window(
    settings: Settings,
    settings_path: Path,
    keys: KeyStore,
    *,
    base_url: str | None = None,
    models: Sequence[str] = (),
    history_path: Path | None = None,
) -> MainWindow:
    """The main window with its room and session; models given replace the saved seats.

    With `history_path` the room is saved there as it streams, and without
    models the last room is reopened.
    """
    from chatroom.core.errors import ParameterError
    from chatroom.core.room import Room
    from chatroom.core.settings import SavedSeat
    from chatroom.ui.history_writer import HistoryWriter
    from chatroom.ui.main_window import MainWindow, endpoint_configs
    from chatroom.ui.session import ClientPool, RoomSession

    room = Room(params=dict(settings.params), system_prompt=settings.system_prompt)
    saved = [SavedSeat(model) for model in models] or settings.seats
    for seat in saved:
        try:
            room.add_seat(seat.model, endpoint=seat.endpoint, params=seat.params)
        except ParameterError as exc:  # a hand-edited settings file: keep the seat
            log.warning("seat %s: own settings ignored: %s", seat.model, exc)
            room.add_seat(seat.model, endpoint=seat.endpoint)
    clients = ClientPool(
        endpoint_configs(settings, base_url), keys, read_timeout_s=settings.read_timeout_s
    )
    session = RoomSession(room, clients)
    history = HistoryWriter(history_path) if history_path is not None else None
    window = MainWindow(
        session,
        settings,
        settings_path,
        keys,
        base_url_override=base_url,
        history=history,
        restore_last_room=history is not None and not models,
    )
    session.setParent(window)
    if history is not None:
        history.setParent(window)
    return window


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    base_url = _valid_base_url(parser, args.base_url)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)  # a terminal shows warnings; the file gets more
    if args.command is not None:
        return _run_command(args)
    _start_log_file(debug=args.debug)
    # An exception escaping a Qt slot is logged, not printed raw and lost.
    sys.excepthook = lambda kind, value, trace: log.error(
        "unexpected error", exc_info=(kind, value, trace)
    )
    return _run_gui(base_url, args.model)


def _start_log_file(*, debug: bool) -> None:
    from chatroom.core import paths
    from chatroom.core.logs import setup_logging

    try:
        setup_logging(paths.state_dir(), debug=debug)
    except OSError as exc:  # a read-only home: run without a log file
        log.warning("no log file: %s", exc)


def _fail(message: str) -> int:
    print(f"chatroom: error: {message}", file=sys.stderr)
    return 1


def _hand_over(instance: SingleInstance) -> int:
    """A second start: the running Chatroom comes to the front and this one ends."""
    if not instance.hand_over(sys.argv[1:], os.environ.get("XDG_ACTIVATION_TOKEN", "")):
        return _fail(
            f"another Chatroom holds {instance.lock_path} but does not answer; "
            "close it, or end its process if it hangs"
        )
    print("Chatroom is already running: its window was brought to the front.")
    return 0


def _import_core_before_qt() -> None:
    """Import the core modules the window needs before PySide6 loads (start-up).

    PySide6 hooks every later import and reads the imported module's source
    (looking for "PySide6" in it, for its `__feature__` switches): about
    0.4 ms a module, which the core and the standard modules it imports
    never need. Measured: platformdirs imports in 3 ms before PySide6, 6 ms after.
    (`chatroom.ui.pyside_sources` makes that read cheaper and keeps nothing.)
    """
    import chatroom.core.logs  # noqa: F401  (with logging.handlers)
    import chatroom.core.metrics  # noqa: F401  (with the room model and the catalogue)
    import chatroom.core.paths  # noqa: F401  (with platformdirs)
    import chatroom.core.protocol  # noqa: F401  (the session's events)
    import chatroom.core.settings  # noqa: F401  (with secrets)


def _run_gui(base_url: str | None, models: Sequence[str]) -> int:
    from chatroom.core import qt_requirements

    _import_core_before_qt()
    try:
        from chatroom.ui.pyside_sources import load_qt

        load_qt()  # first, so that PySide6's import hook keeps no module's source
        from chatroom.ui.application import bring_to_front, create_application
    except ImportError as exc:  # PySide6 found, a system library it links to not
        explained = qt_requirements.explain_import_error(str(exc))
        if explained is None:
            raise
        return _fail(explained)
    from chatroom.core import paths
    from chatroom.core.errors import SettingsError
    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings, load_settings
    from chatroom.ui.first_paint import FirstPaintWatch
    from chatroom.ui.single_instance import SingleInstance

    app = create_application()
    instance = SingleInstance(paths.config_dir())
    if not instance.acquire():
        return _hand_over(instance)
    # The window's close ends the run, after the streams are stopped cleanly.
    app.setQuitOnLastWindowClosed(False)
    settings_path = paths.settings_path()
    try:
        settings = load_settings(settings_path)
    except SettingsError as exc:
        log.error("%s", exc)
        settings = Settings()
    window = create_window(
        settings,
        settings_path,
        KeyStore(),
        base_url=base_url,
        models=models,
        history_path=paths.database_path(),
    )

    def on_instance_activation_requested(argv: list[str], activation_token: str) -> None:
        log.info("a second start handed over; its arguments: %s", argv)
        bring_to_front(window, activation_token)
        # `chatroom --model X` while Chatroom runs: seat X in the open window.
        window.seat_models(handed_models(argv))

    instance.activation_requested.connect(on_instance_activation_requested)
    FirstPaintWatch(window, instance.listen)  # QtNetwork can wait for the first frame
    if os.environ.get(EXIT_AFTER_FIRST_PAINT) == "1":
        _exit_after_first_paint(window)
    _paint_first_frame(window)
    _run_event_loop(app, window)
    instance.release()
    return 0


def _paint_first_frame(window: MainWindow) -> None:
    """Show the window and let Qt alone run until it has painted (or closed).

    asyncio and qasync load after this (about 30 ms; docs/performance.md,
    "Start-up"). The session holds the jobs the window starts after its
    paint until the asyncio loop runs them.
    """
    from PySide6.QtCore import QEventLoop

    from chatroom.ui.first_paint import FirstPaintWatch
    from chatroom.ui.main_window import FIRST_PAINT_FALLBACK_MS

    window.session.hold_jobs()
    spin = QEventLoop(window)
    # The other watches' callbacks may run before or after this loop ends:
    # they use Qt alone, or start jobs, which the session holds.
    FirstPaintWatch(window, spin.quit, fallback_ms=FIRST_PAINT_FALLBACK_MS)
    window.closed.connect(spin.quit)
    window.show()
    spin.exec()


def _run_event_loop(app: QApplication, window: MainWindow) -> None:
    """Run the qasync loop until the window closes, then stop the session cleanly."""
    import asyncio

    from chatroom.ui.event_loop import create_event_loop

    loop = create_event_loop(app)

    async def run() -> None:
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        if window.isHidden():  # closed before this loop ran (the start-up benchmark does)
            closed.set()
        # Logout, shutdown or Ctrl+C in a terminal: close as the user would.
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
                loop.add_signal_handler(signum, window.close)
        window.session.release_jobs()
        await closed.wait()
        await window.session.aclose()
        if window.session.history is not None:
            window.session.history.close()  # every queued save is written first

    with loop:  # type: ignore[attr-defined]  # qasync's loop is a context manager
        loop.run_until_complete(run())


def handed_models(argv: Sequence[str]) -> list[str]:
    """The `--model` values of a second start's arguments (never exits, unlike argparse)."""
    models: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--model" and index + 1 < len(argv):
            models.append(argv[index + 1])
        elif arg.startswith("--model="):
            models.append(arg.removeprefix("--model="))
    return [model for model in models if model.strip()]


def seconds_since_start() -> float:
    """Seconds since this process started.

    Linux: from the kernel's start time in /proc (10 ms steps), so the
    interpreter's own start-up counts. Elsewhere: since this module loaded.
    """
    try:
        # Field 22, starttime, in clock ticks since boot; the name before it may hold spaces.
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started_s
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc, no CLOCK_BOOTTIME
        return time.perf_counter() - _LOADED_AT


def _exit_after_first_paint(window: MainWindow) -> None:
    """Print the time to the window's first paint, then close it (benchmarks)."""
    from chatroom.ui.first_paint import FirstPaintWatch

    def report() -> None:
        print(f"first paint: {seconds_since_start():.3f}", flush=True)
        window.close()

    FirstPaintWatch(window, report)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
