"""The core stays Qt-free (STYLE.md rule 1), checked two ways.

lint-imports sees static imports; importing every module in a fresh
interpreter also catches dynamic ones (importlib, plugins, lazy imports).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import chatroom.core

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "shiboken6", "qasync")

_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import chatroom.core
names = [m.name for m in pkgutil.walk_packages(chatroom.core.__path__, "chatroom.core.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_core_module_loads_no_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = {f"chatroom.core.{p.stem}" for p in Path(chatroom.core.__path__[0]).glob("*.py")} - {
        "chatroom.core.__init__"
    }
    assert expected <= set(report["imported"])
    assert "chatroom.core.client" in report["imported"]
    qt = [m for m in report["loaded"] if m.split(".")[0] in FORBIDDEN]
    assert qt == []


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} is missing: install the test extra"
    result = subprocess.run(
        [str(lint_imports)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "core is Qt-free KEPT" in result.stdout
