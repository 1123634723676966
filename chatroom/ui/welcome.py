"""WelcomePanel: first-run page that asks for an API key or a local server.

The panel only collects input and shows results: the caller stores the key
(through the keyring, off the GUI thread) and switches endpoints, then
reports back with `set_message`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.secrets import ENV_VAR

# The settings dialog's module, whose URL check and message styles this panel
# shares, is imported when a message is first shown: the main window builds
# this panel before its first frame and loading that module then would delay
# it (start-up, docs/performance.md).

__all__ = ["LOCAL_URL_EXAMPLE", "WelcomePanel"]

LOCAL_URL_EXAMPLE = "http://127.0.0.1:8080/v1"

_INTRO = (
    "Chatroom sends one prompt to several language models and shows their answers "
    "side by side. It needs one of two things:"
    "<ul>"
    "<li>an <b>OpenRouter API key</b> (from openrouter.ai/keys), kept in your system "
    "keyring and never written to a file, or</li>"
    "<li>a <b>local OpenAI-compatible server</b>, such as llama.cpp, Ollama, "
    "LM Studio or vLLM, which may need no key at all.</li>"
    "</ul>"
    f"You can also start Chatroom with the environment variable <code>{ENV_VAR}</code> "
    "set: that key is used for the run and not stored."
)


class WelcomePanel(QWidget):
    """Shown instead of the panes until a key or a server is set up.

    Signals:
        key_submitted(str): the user asked to save this key (surrounding
            whitespace removed, never empty); the field is cleared at once.
        local_server_chosen(str): the user chose this local server base URL
            (checked to be http(s) with a host).
    """

    key_submitted = Signal(str)
    local_server_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._key_edit = QLineEdit()
        self._save_button = QPushButton("Save key")
        self._url_edit = QLineEdit()
        self._local_button = QPushButton("Use local server")
        self._message = QLabel()
        self._build()
        self._key_edit.returnPressed.connect(self.on_save_button_clicked)
        self._save_button.clicked.connect(self.on_save_button_clicked)
        self._url_edit.returnPressed.connect(self.on_local_button_clicked)
        self._local_button.clicked.connect(self.on_local_button_clicked)

    def _build(self) -> None:
        title = QLabel("Welcome to Chatroom")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        title.setAccessibleName("Welcome to Chatroom")
        intro = QLabel(_INTRO)
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setWordWrap(True)
        self._message.setWordWrap(True)
        self._message.setAccessibleName("Welcome message")
        self._message.hide()
        column = QVBoxLayout()
        column.setSpacing(12)
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(self._key_group())
        column.addWidget(self._local_group())
        column.addWidget(self._message)
        column.addStretch(2)
        # A readable measure on a wide window: the column stays narrow and centred.
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(640)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(holder, 100)
        outer.addStretch(1)

    def _key_group(self) -> QGroupBox:
        group = QGroupBox("Use OpenRouter")
        layout = QVBoxLayout(group)
        self._key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self._key_edit.setAccessibleName("OpenRouter API key")
        self._key_edit.setPlaceholderText("sk-or-v1-…")
        row = QHBoxLayout()
        row.addWidget(self._key_edit, 1)
        row.addWidget(self._save_button)
        layout.addWidget(QLabel("Paste your OpenRouter API key:"))
        layout.addLayout(row)
        return group

    def _local_group(self) -> QGroupBox:
        group = QGroupBox("Use a local server")
        layout = QVBoxLayout(group)
        self._url_edit.setAccessibleName("Local server URL")
        self._url_edit.setPlaceholderText(LOCAL_URL_EXAMPLE)
        row = QHBoxLayout()
        row.addWidget(self._url_edit, 1)
        row.addWidget(self._local_button)
        layout.addWidget(QLabel("Base URL of the server's OpenAI-compatible API:"))
        layout.addLayout(row)
        return group

    def set_message(self, text: str, is_error: bool) -> None:
        """Show a result line under the groups, e.g. "Key saved" or a keyring problem."""
        from chatroom.ui.settings_dialog import ERROR_STYLE, OK_STYLE  # deferred: see the imports

        self._message.setText(text)
        self._message.setStyleSheet(ERROR_STYLE if is_error else OK_STYLE)
        self._message.setVisible(bool(text))

    def message(self) -> str:
        """The result line shown, or "" when none is."""
        return self._message.text() if self._message.isVisibleTo(self) else ""

    @Slot()
    def on_save_button_clicked(self) -> None:
        key = self._key_edit.text().strip()
        if not key:
            self.set_message("Paste a key into the field first.", True)
            return
        self._key_edit.clear()
        self.set_message("Saving the key…", False)
        self.key_submitted.emit(key)

    @Slot()
    def on_local_button_clicked(self) -> None:
        from chatroom.ui.settings_dialog import WARNING_STYLE, check_base_url  # deferred: see the imports

        url = self._url_edit.text().strip()
        check = check_base_url(url)
        if check.error is not None:
            self.set_message(check.error, True)
            return
        if check.warning is not None:
            self.set_message("⚠ " + check.warning, False)
            self._message.setStyleSheet(WARNING_STYLE)
        else:
            self.set_message("", False)
        self.local_server_chosen.emit(url)
