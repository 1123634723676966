"""Make docs/screenshot.png: the real window under Xvfb with three seats streaming.

    xvfb-run -s "-screen 0 1360x860x24" .venv/bin/python docs/make_screenshot.py [OUT.png]

It starts the fake OpenRouter server on 127.0.0.1, seats three fake models,
sends a prompt, and grabs the X screen while the replies stream.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png")
    home = tempfile.mkdtemp(prefix="chatroom-shot-")
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        os.environ[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"

    from PySide6.QtWidgets import QApplication

    from chatroom.app import create_window
    from chatroom.core.secrets import KeyStore
    from chatroom.core.settings import Settings
    from chatroom.ui.event_loop import create_event_loop
    from tests.fake_openrouter import FakeOpenRouter

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    loop = create_event_loop(app)
    with FakeOpenRouter() as server:
        models = ["fake/lorem?rate=40", "fake/reasoning", "fake/lorem?rate=25"]
        settings = Settings(params={"temperature": 0.7, "max_tokens": 400})
        window = create_window(
            settings, Path(home) / "settings.json", KeyStore(environ={}),
            base_url=server.base_url, models=models,
        )
        window.resize(1340, 840)
        window.move(10, 10)
        window.show()

        async def run() -> None:
            await asyncio.sleep(0.5)
            window.prompt_edit.setPlainText("Explain in two paragraphs why the sky is blue.")
            window.on_send_button_clicked()
            await asyncio.sleep(2.5)
            window.prompt_edit.setPlainText("And why are sunsets red?")
            await asyncio.sleep(0.3)
            screen = app.primaryScreen()
            assert screen is not None
            screen.grabWindow(0).copy(0, 0, 1360, 860).save(str(out))
            window.close()
            await window.session.aclose()

        with loop:  # type: ignore[attr-defined]  # qasync's loop is a context manager
            loop.run_until_complete(run())
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
