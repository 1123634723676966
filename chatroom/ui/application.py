"""The QApplication of a real run: its identity, its icon, and a start that explains failures.

The names here tie the running window to the desktop: on X11 the window's
WM_CLASS is (`DESKTOP_FILE_NAME`, `APPLICATION_NAME`), which
resources/chatroom.desktop names in StartupWMClass; on Wayland the app id is
`DESKTOP_FILE_NAME`, the desktop file's name. A test keeps them in step.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Final

from PySide6.QtCore import QMessageLogContext, Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QWidget

from chatroom import __version__
from chatroom.core.qt_requirements import explain_qt_failure
from chatroom.ui import assets

__all__ = [
    "APPLICATION_NAME",
    "DESKTOP_FILE_NAME",
    "bring_to_front",
    "configure_application",
    "create_application",
]

log = logging.getLogger(__name__)

#: QApplication's applicationName: the class half of WM_CLASS, StartupWMClass.
APPLICATION_NAME: Final = "Chatroom"
#: The desktop file's name without .desktop; also the instance half of WM_CLASS.
DESKTOP_FILE_NAME: Final = "chatroom"

_LEVELS: Final = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
}

Exit = Callable[[str], object]


def _exit_with(message: str) -> None:
    """Print the one-line error and end the process: Qt aborts if the handler returns."""
    print(f"chatroom: error: {message}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(1)


def create_application(*, on_fatal: Exit = _exit_with) -> QApplication:
    """A configured QApplication; if Qt cannot start, one clear message and exit 1.

    While QApplication starts, Qt's messages are held back: on success they
    go to the log, and on failure (a fatal message, after which Qt would
    abort) they are read for what is missing (see core.qt_requirements).
    """
    held: list[tuple[QtMsgType, str]] = []

    def handler(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
        held.append((kind, message))
        if kind == QtMsgType.QtFatalMsg:
            on_fatal(explain_qt_failure([text for _, text in held], os.environ))

    existing = QApplication.instance()
    if isinstance(existing, QApplication):  # a harness that made its own
        configure_application(existing)
        return existing
    qInstallMessageHandler(handler)
    try:
        # argv[0] becomes the instance half of WM_CLASS: "chatroom" even when
        # started as `python -m chatroom` (whose argv[0] is __main__.py).
        app = QApplication([DESKTOP_FILE_NAME])
    finally:
        qInstallMessageHandler(None)
    for kind, message in held:
        log.log(_LEVELS.get(kind, logging.WARNING), "Qt: %s", message)
    configure_application(app)
    return app


def configure_application(app: QApplication) -> None:
    """Names, version and icon, which the window manager and task bar show."""
    app.setApplicationName(APPLICATION_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(assets.app_icon())


def bring_to_front(window: QWidget, activation_token: str = "") -> None:
    """Show `window` un-minimised and ask the window manager to activate it.

    On Wayland a compositor activates only with a token from the launch that
    asked for it (another start's XDG_ACTIVATION_TOKEN); Qt's Wayland plugin
    reads it from the environment in activateWindow().
    """
    if activation_token:
        os.environ["XDG_ACTIVATION_TOKEN"] = activation_token
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
