"""The command line as a user or a script meets it, in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chatroom import __version__
from chatroom.app import handed_models
from tests.fake_openrouter import FakeOpenRouter


def chatroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatroom", *args], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    result = chatroom("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"chatroom {__version__}"


def test_help_names_the_options() -> None:
    result = chatroom("--help")
    assert result.returncode == 0
    for option in ("--base-url", "--model", "--version", "OPENROUTER_API_KEY"):
        assert option in result.stdout


def test_bad_base_url_is_one_line_on_stderr() -> None:
    result = chatroom("--base-url", "ftp://example")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--base-url must be an http(s) URL" in result.stderr


def test_unknown_option_is_one_line_on_stderr() -> None:
    result = chatroom("--frobnicate")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_app_starts_and_sigterm_closes_it_cleanly(private_dirs: Path) -> None:
    with FakeOpenRouter() as server:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        app = subprocess.Popen(
            [sys.executable, "-m", "chatroom", "--base-url", server.base_url,
             "--model", "fake/echo", "--model", "fake/lorem"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(2.5)  # a process test: no widget to wait on from here
        assert app.poll() is None, app.communicate()
        app.send_signal(signal.SIGTERM)
        _, stderr = app.communicate(timeout=20)
    assert app.returncode == 0
    assert "Traceback" not in stderr
    settings = (private_dirs / "config" / "chatroom" / "settings.json").read_text()
    assert '"fake/echo"' in settings and '"fake/lorem"' in settings


def saved_room(title_prompt: str, *, retried: bool = False) -> str:
    """A room with one turn saved in the history of the private XDG dirs; its id.

    `retried`: its reply replaced, by a manual retry, a first try that stopped.
    """
    from chatroom.core import paths
    from chatroom.core.room import ReplyState, Room
    from chatroom.core.store import Store

    room = Room()
    seat = room.add_seat("fake/echo")
    turn = room.start_turn(title_prompt)
    if retried:
        turn.replies[seat.id].append_text("a first try")
        turn.replies[seat.id].move_to(ReplyState.STOPPED)
        room.retry_reply(turn, seat.id)
    reply = turn.replies[seat.id]
    reply.append_text("an answer")
    reply.move_to(ReplyState.DONE)
    store = Store(paths.database_path())
    try:
        store.save_room(room)
    finally:
        store.close()
    return room.id


def test_list_prints_rooms_newest_first(private_dirs: Path) -> None:
    env = {**os.environ}
    assert chatroom("list").stdout == ""  # no history yet
    older = saved_room("first\troom")
    time.sleep(0.01)
    newer = saved_room("second room")
    result = subprocess.run(
        [sys.executable, "-m", "chatroom", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [line[0] for line in lines] == [newer, older]
    assert lines[1][2] == "first room"  # a tab in the title cannot break the columns
    assert all(line[1].endswith("Z") and "T" in line[1] for line in lines)


def test_export_writes_each_format(private_dirs: Path, tmp_path: Path) -> None:
    room_id = saved_room("export this")
    for fmt in ("md", "json", "html"):
        out = tmp_path / f"room.{fmt}"
        result = chatroom("export", room_id, "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert "export this" in out.read_text()


def test_export_keeps_earlier_attempts(private_dirs: Path, tmp_path: Path) -> None:
    room_id = saved_room("retried once", retried=True)
    out = tmp_path / "room.json"
    result = chatroom("export", room_id, "--format", "json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    reply = json.loads(out.read_text())["turns"][0]["replies"][0]
    assert reply["text"] == "an answer"
    assert [(a["text"], a["state"]) for a in reply["earlier_attempts"]] == [("a first try", "stopped")]


def test_export_errors_are_one_line(private_dirs: Path, tmp_path: Path) -> None:
    saved_room("something")
    unknown = chatroom("export", "no-such-room", "--format", "md", "-o", str(tmp_path / "x.md"))
    assert unknown.returncode != 0 and unknown.stderr.count("\n") == 1
    assert "no-such-room" in unknown.stderr
    bad_format = chatroom("export", "x", "--format", "pdf", "-o", str(tmp_path / "x.pdf"))
    assert bad_format.returncode == 2 and bad_format.stderr.count("\n") == 1


def test_a_second_starts_models_are_read_without_argparse() -> None:
    argv = ["--base-url", "http://127.0.0.1:1/v1", "--model", "a/b", "--model=c/d", "--debug", "--model"]
    assert handed_models(argv) == ["a/b", "c/d"]
    assert handed_models(["--model", " "]) == []
