"""Make the screenshots in docs/: the real window under Xvfb, against the fake server.

    xvfb-run -s "-screen 0 1360x860x24" .venv/bin/python docs/make_screenshot.py [SCENE ...]

Scenes: main (three seats streaming, with metrics), picker (the catalogue),
diff (two replies compared), dark (the main scene in a dark palette),
attempts (a dropped reply retried by hand, its earlier attempt shown). Each
writes docs/<scene>.png (main writes docs/screenshot.png). The fake
OpenRouter server runs on 127.0.0.1 in this process.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "Explain in two short paragraphs why the sky is blue, with a code example."
MODELS = ["openai/gpt-4o-mini", "fake/reasoning", "fake/lorem"]
# For the diff: the echo model returns this edited lorem, fake/lorem the original.
DIFF_PROMPT = (
    "Lorem ipsum dolor sit amet, consectetur elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. Ut enim ad maxim veniam, quis nostrud exercitation "
    "laboris nisi ut aliquip ex ea commodo consequat, said the model."
)


def dark_palette() -> object:
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#25262a",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2d2e31",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#3d6fb4",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2d2e31",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#8a8d91",
        QPalette.ColorRole.Link: "#8ab4f8",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Text, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6e72"))
    return palette


def main() -> int:
    scenes = sys.argv[1:] or ["main", "picker", "diff", "dark"]
    home = tempfile.mkdtemp(prefix="chatroom-shot-")
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        os.environ[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"

    from PySide6.QtWidgets import QApplication

    from chatroom.app import create_window
    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings
    from chatroom.ui.diff_view import DiffDialog
    from chatroom.ui.event_loop import create_event_loop
    from chatroom.ui.model_picker import ModelPicker
    from tests.fake_openrouter import FakeOpenRouter

    app = QApplication([])
    app.setStyle("Fusion")
    app.setQuitOnLastWindowClosed(False)
    loop = create_event_loop(app)

    def grab(name: str) -> None:
        screen = app.primaryScreen()
        assert screen is not None
        out = ROOT / "docs" / ("screenshot.png" if name == "main" else f"{name}.png")
        screen.grabWindow(0).copy(0, 0, 1360, 860).save(str(out))
        print(out)

    async def run(server: FakeOpenRouter) -> None:
        for scene in scenes:
            app.setPalette(dark_palette() if scene == "dark" else app.style().standardPalette())  # type: ignore[arg-type]
            diff = scene == "diff"
            attempts = scene == "attempts"
            settings = Settings(params={"temperature": 0.7, "max_tokens": 30 if diff else 400})
            window = create_window(
                settings, Path(home) / "settings.json", KeyStore(environ={}),
                base_url=server.base_url,
                models=["fake/lorem", "fake/echo"] if diff else ["fake/drop", "fake/lorem"] if attempts else MODELS,
            )
            window.resize(1340, 840)
            window.move(10, 10)
            window.show()
            await asyncio.sleep(0.8)  # the catalogue arrives
            window.prompt_edit.setPlainText(DIFF_PROMPT if diff else PROMPT)
            window.on_send_button_clicked()
            await asyncio.sleep(3.0 if diff else 1.0)
            if scene in ("main", "dark"):
                window.prompt_edit.setPlainText("And why are sunsets red?")
                await asyncio.sleep(0.4)
                grab(scene)
            elif scene == "picker":
                picker = ModelPicker(window.session.catalogs, window)
                picker.resize(900, 520)
                picker.move(220, 160)
                picker.show()
                picker.filter_edit().setText("o")
                await asyncio.sleep(0.4)
                grab(scene)
                picker.close()
            elif attempts:
                dropped = window.session.room.seats[0]
                window.panes[dropped.id].retry_button.click()  # as the user does
                await asyncio.sleep(1.5)
                window.panes[dropped.id].attempts_button.click()
                await asyncio.sleep(0.6)
                grab(scene)
            elif scene == "diff":
                first, second = window.session.room.seats
                dialog = DiffDialog(
                    first.label, window._latest_text(first.id), second.label, window._latest_text(second.id), window
                )
                dialog.resize(1100, 620)
                dialog.move(120, 110)
                dialog.show()
                await asyncio.sleep(0.4)
                grab(scene)
                dialog.close()
            window.close()
            await window.session.aclose()

    with FakeOpenRouter() as server, loop:  # type: ignore[attr-defined]  # qasync's loop is a context manager
        loop.run_until_complete(run(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
