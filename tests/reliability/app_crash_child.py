"""The real app, one long reply streaming, until SIGKILL: the child of the crash test.

    python -m tests.reliability.app_crash_child BASE_URL DB_PATH SETTINGS_PATH

Builds the window as `chatroom` does (QApplication, qasync loop, create_window
with the history at DB_PATH), seats MODEL, sends a prompt the way the Send
button does, and prints `received <chars>` about every 50 ms, flushed at once,
so the parent knows how much text the app had when it was killed. The key
comes from OPENROUTER_API_KEY, as for a user who sets it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from chatroom.app import create_window
from chatroom.core.secrets import KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.event_loop import create_event_loop

#: 300 tokens/s for 3000 tokens: ten seconds, far longer than the parent waits.
MODEL: Final = "fake/lorem?rate=300"
MAX_TOKENS: Final = 3000
REPORT_INTERVAL_MS: Final = 50


def main() -> None:
    base_url, db_path, settings_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = create_event_loop(app)
    settings = Settings(endpoints=[Endpoint("openrouter", base_url, None)], params={"max_tokens": MAX_TOKENS})
    window = create_window(
        settings, settings_path, KeyStore(), base_url=base_url, models=[MODEL], history_path=db_path
    )
    window.show()
    seat_id = window.session.room.seats[0].id

    def report() -> None:
        reply = window.session.latest_reply(seat_id)
        if reply is not None:
            print(f"received {len(reply.text)}", flush=True)

    def send() -> None:
        window.prompt_edit.setPlainText("Write a long text.")
        window.on_send_button_clicked()

    timer = QTimer()
    timer.timeout.connect(report)
    timer.start(REPORT_INTERVAL_MS)
    QTimer.singleShot(0, send)
    loop.run_forever()  # until the parent's SIGKILL


if __name__ == "__main__":
    main()
