"""Starting the real app as a user would, when Qt cannot start.

Each test runs `python -m chatroom` in a subprocess under the private XDG
dirs of tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def app_env(**changes: str | None) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatroom", *args], env=app_env(**env), capture_output=True, text=True, timeout=60
    )


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
