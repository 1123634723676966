"""PySide6's import hook keeps no module's source once `load_qt()` has run (in fresh interpreters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What the hook decided for a module that uses PySide6 (0) and one that does
# not (-1), and how many files the line cache holds after the window's modules.
SCRIPT = """
import json, linecache, sys
{load}
import chatroom.ui.main_window
decided = sys.modules["shibokensupport.feature"].pyside_feature_dict
print(json.dumps([len(linecache.cache), decided.get("chatroom.ui.session"), decided.get("chatroom.ui.shown_turns")]))
"""


def run(load: str) -> tuple[int, int | None, int | None]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(load=load)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )
    cached, uses, does_not = json.loads(result.stdout)
    return cached, uses, does_not


def test_pyside6_alone_keeps_the_source_of_every_module_it_scans() -> None:
    # If this fails, PySide6 changed its hook: load_qt() may no longer be needed.
    cached, uses, does_not = run("import PySide6.QtCore")
    assert cached > 50
    assert (uses, does_not) == (0, -1)


def test_after_load_qt_the_hook_decides_the_same_and_keeps_nothing() -> None:
    load = "from chatroom.ui.pyside_sources import load_qt\nassert load_qt()"
    assert run(load) == (0, 0, -1)
