"""WelcomePanel: collects a key or a local server URL and shows results."""

from __future__ import annotations

from typing import TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from chatroom.ui.welcome import LOCAL_URL_EXAMPLE, WelcomePanel

# The offscreen platform says this on every first show(); it is not our bug.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")

W = TypeVar("W", bound=QWidget)


@pytest.fixture
def panel(qtbot: QtBot) -> WelcomePanel:
    widget = WelcomePanel()
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    return widget


def named(parent: QWidget, kind: type[W], name: str) -> W:
    found = [w for w in parent.findChildren(kind) if w.accessibleName() == name]
    assert len(found) == 1, f"{len(found)} {kind.__name__} named {name!r}"
    return found[0]


def button(panel: WelcomePanel, text: str) -> QPushButton:
    return next(b for b in panel.findChildren(QPushButton) if b.text() == text)


def all_text(panel: WelcomePanel) -> str:
    return "\n".join(label.text() for label in panel.findChildren(QLabel))


def test_explains_the_choices(panel: WelcomePanel) -> None:
    text = all_text(panel)
    assert "Welcome to Chatroom" in text
    for needle in ("OpenRouter API key", "keyring", "never written to a file", "llama.cpp",
                   "Ollama", "LM Studio", "vLLM", "OPENROUTER_API_KEY"):
        assert needle in text
    key_edit = named(panel, QLineEdit, "OpenRouter API key")
    assert key_edit.echoMode() is QLineEdit.EchoMode.Password
    assert named(panel, QLineEdit, "Local server URL").placeholderText() == LOCAL_URL_EXAMPLE


def test_key_is_submitted_stripped_and_cleared(qtbot: QtBot, panel: WelcomePanel) -> None:
    key_edit = named(panel, QLineEdit, "OpenRouter API key")
    qtbot.keyClicks(key_edit, "  sk-or-v1-abc  ")
    with qtbot.waitSignal(panel.key_submitted) as blocker:
        qtbot.mouseClick(button(panel, "Save key"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["sk-or-v1-abc"]
    assert key_edit.text() == ""
    panel.set_message("Key saved in the system keyring.", False)
    assert panel.message() == "Key saved in the system keyring."


def test_enter_submits_the_key(qtbot: QtBot, panel: WelcomePanel) -> None:
    key_edit = named(panel, QLineEdit, "OpenRouter API key")
    qtbot.keyClicks(key_edit, "sk-or-v1-abc")
    with qtbot.waitSignal(panel.key_submitted):
        qtbot.keyClick(key_edit, Qt.Key.Key_Return)


def test_empty_key_is_refused(qtbot: QtBot, panel: WelcomePanel) -> None:
    with qtbot.assertNotEmitted(panel.key_submitted):
        qtbot.mouseClick(button(panel, "Save key"), Qt.MouseButton.LeftButton)
    assert "Paste a key" in panel.message()


def test_local_server(qtbot: QtBot, panel: WelcomePanel) -> None:
    url_edit = named(panel, QLineEdit, "Local server URL")
    qtbot.keyClicks(url_edit, " http://127.0.0.1:8080/v1 ")
    with qtbot.waitSignal(panel.local_server_chosen) as blocker:
        qtbot.mouseClick(button(panel, "Use local server"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["http://127.0.0.1:8080/v1"]
    assert panel.message() == ""


@pytest.mark.parametrize("url", ["", "127.0.0.1:8080", "ftp://127.0.0.1/v1", "http://"])
def test_invalid_local_server_url_is_refused(qtbot: QtBot, panel: WelcomePanel, url: str) -> None:
    url_edit = named(panel, QLineEdit, "Local server URL")
    url_edit.setText(url)
    with qtbot.assertNotEmitted(panel.local_server_chosen):
        qtbot.keyClick(url_edit, Qt.Key.Key_Return)
    assert panel.message() != ""


def test_remote_http_server_is_accepted_with_a_warning(qtbot: QtBot, panel: WelcomePanel) -> None:
    named(panel, QLineEdit, "Local server URL").setText("http://192.168.1.20:11434/v1")
    with qtbot.waitSignal(panel.local_server_chosen):
        qtbot.mouseClick(button(panel, "Use local server"), Qt.MouseButton.LeftButton)
    assert "unencrypted" in panel.message()


def test_set_message(panel: WelcomePanel) -> None:
    panel.set_message("No system keyring is available (…). Install …", True)
    assert panel.message().startswith("No system keyring")
    assert "b3261e" in named(panel, QLabel, "Welcome message").styleSheet()
    panel.set_message("", False)
    assert panel.message() == ""
    assert not named(panel, QLabel, "Welcome message").isVisible()
