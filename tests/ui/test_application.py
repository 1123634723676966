"""The QApplication's identity and bringing a window forward."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from chatroom import __version__
from chatroom.ui.application import (
    APPLICATION_NAME,
    DESKTOP_FILE_NAME,
    bring_to_front,
    configure_application,
    create_application,
)


@pytest.fixture
def restored_identity(qapp: QApplication) -> Iterator[QApplication]:
    """The test session's QApplication, its names and icon put back afterwards."""
    saved = (qapp.applicationName(), qapp.applicationVersion(), qapp.desktopFileName(), qapp.windowIcon())
    yield qapp
    qapp.setApplicationName(saved[0])
    qapp.setApplicationVersion(saved[1])
    qapp.setDesktopFileName(saved[2])
    qapp.setWindowIcon(saved[3])


def test_configure_sets_names_version_and_icon(restored_identity: QApplication) -> None:
    app = restored_identity
    app.setWindowIcon(QIcon())
    configure_application(app)
    assert app.applicationName() == APPLICATION_NAME == "Chatroom"
    assert app.desktopFileName() == DESKTOP_FILE_NAME == "chatroom"
    assert app.applicationVersion() == __version__
    assert not app.windowIcon().isNull()


def test_create_application_adopts_an_existing_one(restored_identity: QApplication) -> None:
    assert create_application() is restored_identity
    assert restored_identity.applicationName() == APPLICATION_NAME


def test_bring_to_front_restores_a_minimised_window(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_ACTIVATION_TOKEN", "")  # restored after the test
    window = QWidget()
    qtbot.addWidget(window)
    window.showMinimized()
    bring_to_front(window, "token-from-the-second-start")
    assert window.isVisible()
    assert not window.windowState() & Qt.WindowState.WindowMinimized
    # Qt's Wayland plugin reads the token from here when it activates.
    assert os.environ["XDG_ACTIVATION_TOKEN"] == "token-from-the-second-start"
