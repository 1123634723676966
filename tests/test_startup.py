"""Starting the real app as a user would: a second start, a crashed first one, Qt failing.

Each test runs `python -m chatroom` in subprocesses under the private XDG dirs
of tests/conftest.py, so their lock and socket are theirs alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroom import __version__
from chatroom.core import paths
from chatroom.ui.single_instance import instance_key
from tests.fake_openrouter import FakeOpenRouter

HANDED_OVER = "Chatroom is already running: its window was brought to the front.\n"


@pytest.fixture
def server() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as fake:
        yield fake


def app_env(**changes: str | None) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def start(server: FakeOpenRouter, *models: str) -> subprocess.Popen[str]:
    args = [arg for model in models for arg in ("--model", model)]
    return subprocess.Popen(
        [sys.executable, "-m", "chatroom", "--base-url", server.base_url, *args],
        env=app_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def run(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatroom", *args], env=app_env(**env), capture_output=True, text=True, timeout=60
    )


def socket_path() -> Path:
    # QLocalServer puts a plain name in the temp dir (TMPDIR or /tmp), as tempfile does.
    return Path(tempfile.gettempdir()) / instance_key(paths.config_dir())


def lock_path() -> Path:
    return socket_path().with_name(socket_path().name + ".lock")


def lock_owner() -> int | None:
    """The process id QLockFile wrote on the lock's first line."""
    try:
        return int(lock_path().read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def wait_until_listening(app: subprocess.Popen[str], timeout_s: float = 30) -> None:
    """A process test: poll for the socket the first instance listens on."""
    deadline = time.monotonic() + timeout_s
    while not socket_path().exists():
        assert app.poll() is None, app.communicate()
        assert time.monotonic() < deadline, "the first instance never listened"
        time.sleep(0.05)


def log_text() -> str:
    log = paths.state_dir() / "chatroom.log"
    return log.read_text() if log.exists() else ""


def stop(app: subprocess.Popen[str]) -> str:
    """SIGTERM, as a logout would; its stderr, after checking a clean exit."""
    app.send_signal(signal.SIGTERM)
    _, stderr = app.communicate(timeout=30)
    assert app.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stderr


@pytest.mark.timeout(120)
def test_a_second_start_brings_the_first_forward_and_exits(
    private_dirs: Path, server: FakeOpenRouter
) -> None:
    first = start(server, "fake/echo")
    try:
        wait_until_listening(first)
        second = run("--base-url", server.base_url, "--model", "fake/lorem")
        assert (second.returncode, second.stdout, second.stderr) == (0, HANDED_OVER, "")
        assert first.poll() is None
        deadline = time.monotonic() + 10
        while "['--base-url', " not in log_text():
            assert time.monotonic() < deadline, log_text()
            time.sleep(0.05)
        assert "'--model', 'fake/lorem'" in log_text()
        # The first window seats the model the second start asked for.
        while "seating fake/lorem, asked by a second start" not in log_text():
            assert time.monotonic() < deadline, log_text()
            time.sleep(0.05)
        # Commands for scripts never look for a running window.
        assert run("--version").stdout == f"chatroom {__version__}\n"
        assert run("list").returncode == 0
    finally:
        stop(first)
    assert not socket_path().exists()  # a clean exit leaves nothing behind
    assert not lock_path().exists()


@pytest.mark.timeout(120)
def test_a_crashed_instance_is_taken_over(private_dirs: Path, server: FakeOpenRouter) -> None:
    crashed = start(server, "fake/echo")
    wait_until_listening(crashed)
    crashed.kill()
    crashed.communicate(timeout=30)
    assert socket_path().exists() and lock_path().exists()  # left behind, as a crash would
    successor = start(server, "fake/echo")
    try:
        # QLockFile sees the crashed process is gone and hands the lock over.
        deadline = time.monotonic() + 30
        while lock_owner() != successor.pid:
            assert successor.poll() is None, successor.communicate()
            assert time.monotonic() < deadline, "the successor never took the lock"
            time.sleep(0.05)
        # It listens on a fresh socket: a later start hands over to it.
        later = run("--base-url", server.base_url)
        assert (later.returncode, later.stdout) == (0, HANDED_OVER)
    finally:
        stop(successor)


def test_an_unknown_platform_plugin_is_one_clear_line() -> None:
    result = run(QT_QPA_PLATFORM="nonexistent")
    assert result.returncode == 1  # not Qt's abort (-6) and its core dump
    assert result.stderr.startswith('chatroom: error: Qt has no platform plugin "nonexistent"')
    assert result.stderr.count("\n") == 1
    assert "offscreen" in result.stderr  # the plugins there are


def test_no_display_is_one_clear_line() -> None:
    result = run(QT_QPA_PLATFORM="xcb", DISPLAY=None, WAYLAND_DISPLAY=None)
    assert result.returncode == 1
    assert result.stderr.startswith("chatroom: error: No X display: DISPLAY is not set.")
    assert result.stderr.count("\n") == 1


def test_a_missing_system_library_names_its_package(tmp_path: Path) -> None:
    # A PySide6 whose QtCore fails as the real one does without libEGL.
    fake = tmp_path / "fake" / "PySide6"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "QtCore.py").write_text(
        'raise ImportError("libEGL.so.1: cannot open shared object file: No such file or directory")\n'
    )
    path = os.pathsep.join([str(tmp_path / "fake"), str(Path(__file__).resolve().parents[1])])
    result = run(PYTHONPATH=path)
    assert result.returncode == 1
    assert result.stderr == (
        "chatroom: error: Qt cannot start: this system lacks libEGL.so.1. "
        "On Debian or Ubuntu: sudo apt-get install libegl1\n"
    )
