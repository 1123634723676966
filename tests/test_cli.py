"""The command line as a user or a script meets it, in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chatroom import __version__
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
