"""What the first frame waits for (docs/performance.md, "Start-up"), in fresh interpreters.

The HTTP client, the Markdown renderer, the keyring and the dialogs are
imported when first used, after the window has painted: together they were
about a third of the time to the first paint. asyncio and qasync load after
it too: Qt alone paints the first frame, then the asyncio loop starts. This
test process has imported all of them already, so each check runs a new
interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chatroom.app import EXIT_AFTER_FIRST_PAINT

REPO = Path(__file__).resolve().parents[1]
#: Top-level packages the first frame needs none of.
LIBRARIES = ("httpx", "httpx_sse", "markdown_it", "pygments", "keyring", "cryptography", "asyncio", "qasync")
#: Our modules that load them, and the dialogs, opened only on request.
MODULES = (
    "chatroom.core.client",
    "chatroom.ui.render",
    "chatroom.ui.reply_view",
    "chatroom.ui.about_dialog",
    "chatroom.ui.diff_view",
    "chatroom.ui.model_picker",
    "chatroom.ui.seat_settings",
    "chatroom.ui.settings_dialog",
    "chatroom.ui.event_loop",
)


def deferred_among(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in LIBRARIES or m in MODULES)


def test_importing_the_main_window_loads_no_http_markdown_or_dialog_module() -> None:
    script = "import json, sys; import chatroom.ui.main_window; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert deferred_among(json.loads(result.stdout)) == []


def test_the_app_paints_its_first_frame_before_loading_them(private_dirs: Path) -> None:
    # -X importtime writes a line to stderr as each import ends; with stdout on
    # the same pipe, the imports listed before "first paint" came before it.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", EXIT_AFTER_FIRST_PAINT: "1"}
    result = subprocess.run(
        # A closed port on this machine: the catalogue fetch after the paint fails at once.
        [sys.executable, "-X", "importtime", "-m", "chatroom", "--base-url", "http://127.0.0.1:9/v1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout
    before_paint, painted, after = result.stdout.partition("first paint: ")
    assert painted, result.stdout
    imported = [line.rsplit("|", 1)[1].strip() for line in before_paint.splitlines() if line.startswith("import time:")]
    assert "chatroom.ui.main_window" in imported
    assert deferred_among(imported) == []
    after_paint = [line.rsplit("|", 1)[1].strip() for line in after.splitlines() if line.startswith("import time:")]
    assert {"asyncio", "qasync"} <= set(after_paint)  # the loop started after the paint


def test_the_renderer_loads_markdown_it_and_pygments_on_preload() -> None:
    script = (
        "import sys; import chatroom.ui.render as render\n"
        "before = {'markdown_it', 'pygments'} & set(sys.modules)\n"
        "render.preload()\n"
        "print(sorted(before), 'markdown_it' in sys.modules, 'pygments.formatters.html' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True", "True"]
