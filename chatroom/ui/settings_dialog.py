"""SettingsDialog: the OpenRouter endpoint's URL, its API key, the read timeout.

The key field starts empty every time: the stored key is never loaded into a
widget, so it cannot be shoulder-surfed, copied out or left in memory by the
dialog. Every keyring call and the connection test run through the injected
`run_job` (RoomSession.run_job in the app), because keyring backends block.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import shiboken6
from PySide6.QtCore import QEvent, Slot
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.errors import ChatroomError, KeyringUnavailable
from chatroom.core.secrets import DEFAULT_ENDPOINT, ENV_VAR, ApiKey, KeySource, KeyStore
from chatroom.core.settings import OPENROUTER_URL, Endpoint, Settings

__all__ = ["MAX_READ_TIMEOUT_S", "MIN_READ_TIMEOUT_S", "BaseUrlCheck", "RunJob",
           "SettingsDialog", "check_base_url"]

log = logging.getLogger(__name__)

#: Runs a coroutine off the widgets and hands its result, or the exception it
#: raised, to the callback on the GUI thread (RoomSession.run_job).
RunJob = Callable[[Coroutine[Any, Any, object], Callable[[object], None]], None]

MIN_READ_TIMEOUT_S: Final = 5
MAX_READ_TIMEOUT_S: Final = 600
ERROR_STYLE: Final = "color: #b3261e;"
WARNING_STYLE: Final = "color: #8a5300;"
OK_STYLE: Final = "color: #1b6e2a;"
_KEY_STATUS: Final = {
    KeySource.KEYRING: "A key is stored in the system keyring.",
    KeySource.ENVIRONMENT: f"Using {ENV_VAR} from the environment (not stored).",
    KeySource.NONE: "No key stored.",
}


@dataclass(frozen=True)
class BaseUrlCheck:
    """What is wrong with a base URL (`error`) or risky about it (`warning`)."""

    error: str | None = None
    warning: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.error is None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> BaseUrlCheck:
    """Whether `url` can be an endpoint's base URL: http(s), a host, nothing else odd.

    Plain http to a host other than this machine is allowed with a warning:
    a key sent there travels unencrypted.
    """
    text = url.strip()
    if not text:
        return BaseUrlCheck(error="Enter a base URL, e.g. https://openrouter.ai/api/v1.")
    if any(char.isspace() for char in text):
        return BaseUrlCheck(error="The URL cannot contain spaces.")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        return BaseUrlCheck(error="The URL must start with https:// or http://.")
    try:
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        return BaseUrlCheck(error="The port in the URL is not a number from 0 to 65535.")
    if not host:
        return BaseUrlCheck(error="The URL needs a host, e.g. http://127.0.0.1:8080/v1.")
    if parts.username is not None or parts.password is not None:
        return BaseUrlCheck(error="Put no user name or password in the URL.")
    if parts.query or parts.fragment:
        return BaseUrlCheck(error="A base URL cannot have a query (?…) or fragment (#…).")
    if parts.scheme.lower() == "http" and not _is_loopback(host):
        return BaseUrlCheck(
            warning=f"Plain http:// to {host}: the API key would travel unencrypted. "
            "Use https:// unless you trust every network in between."
        )
    return BaseUrlCheck()


def _show(label: QLabel, text: str, style: str = "") -> None:
    label.setText(text)
    label.setStyleSheet(style)
    label.setVisible(bool(text))


def _message_of(result: BaseException) -> str:
    """A line for the user; only our own errors' texts are shown (they never hold a key)."""
    if isinstance(result, ChatroomError | ValueError):
        return str(result)
    log.error("unexpected error in a settings job", exc_info=result)
    return f"Unexpected error ({type(result).__name__}); see the log."


class SettingsDialog(QDialog):
    """Edits the OpenRouter endpoint, its API key and the read timeout.

    The key is saved or deleted at once through the keyring; the rest is
    returned by `updated_settings()` for the caller to apply after OK.
    """

    def __init__(
        self,
        settings: Settings,
        keys: KeyStore,
        run_job: RunJob,
        parent: QWidget | None = None,
        *,
        base_url_override: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self._keys = keys
        self._run_job = run_job
        self._jobs_running = 0
        self._url_edit = QLineEdit(self._stored_url())
        self._url_message = QLabel()
        self._override_label = QLabel()
        self._timeout_spin = QSpinBox()
        self._key_edit = QLineEdit()
        self._key_status = QLabel()
        self._save_button = QPushButton("Save key")
        self._delete_button = QPushButton("Delete key")
        self._test_button = QPushButton("Test connection")
        self._connection_status = QLabel()
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self._build(base_url_override)
        self._connect()
        self.on_url_edit_text_changed(self._url_edit.text())
        self._refresh_key_status()

    # -- construction ----------------------------------------------------

    def _build(self, base_url_override: str | None) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self._endpoint_group(base_url_override))
        layout.addWidget(self._key_group())
        layout.addWidget(self._connection_group())
        layout.addStretch(1)
        layout.addWidget(self._buttons)
        self.setMinimumWidth(460)

    def _endpoint_group(self, base_url_override: str | None) -> QGroupBox:
        group = QGroupBox("OpenRouter endpoint")
        form = QFormLayout(group)
        self._url_edit.setAccessibleName("Base URL")
        self._url_edit.setPlaceholderText(OPENROUTER_URL)
        self._url_edit.setToolTip(
            "Any OpenAI-compatible server: OpenRouter, a gateway, or a local "
            "llama.cpp, Ollama, LM Studio or vLLM server."
        )
        form.addRow("Base URL", self._url_edit)
        self._url_message.setWordWrap(True)
        self._url_message.setAccessibleName("Base URL problem")
        form.addRow(self._url_message)
        self._override_label.setWordWrap(True)
        self._override_label.setAccessibleName("Base URL override")
        if base_url_override:
            _show(
                self._override_label,
                f"This run uses --base-url {base_url_override} instead. The URL above "
                "is saved and used when Chatroom starts without --base-url.",
            )
        else:
            self._override_label.hide()
        form.addRow(self._override_label)
        self._timeout_spin.setRange(MIN_READ_TIMEOUT_S, MAX_READ_TIMEOUT_S)
        self._timeout_spin.setSuffix(" s")
        self._timeout_spin.setValue(round(self._settings.read_timeout_s))
        self._timeout_spin.setAccessibleName("Read timeout")
        self._timeout_spin.setToolTip(
            "How long to wait for the next bytes of a reply before giving up."
        )
        form.addRow("Read timeout", self._timeout_spin)
        return group

    def _key_group(self) -> QGroupBox:
        group = QGroupBox("API key")
        layout = QVBoxLayout(group)
        self._key_status.setWordWrap(True)
        self._key_status.setAccessibleName("Key status")
        layout.addWidget(self._key_status)
        self._key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self._key_edit.setAccessibleName("API key")
        self._key_edit.setPlaceholderText("Paste a new key to save or test it")
        layout.addWidget(self._key_edit)
        row = QHBoxLayout()
        row.addWidget(self._save_button)
        row.addWidget(self._delete_button)
        row.addStretch(1)
        layout.addLayout(row)
        note = QLabel(
            "Keys are kept in the system keyring, never in a file. "
            f"{ENV_VAR}, when set, is used instead for that run."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(note)
        return group

    def _connection_group(self) -> QGroupBox:
        group = QGroupBox("Connection")
        layout = QVBoxLayout(group)
        row = QHBoxLayout()
        row.addWidget(self._test_button)
        row.addStretch(1)
        layout.addLayout(row)
        self._connection_status.setWordWrap(True)
        self._connection_status.setAccessibleName("Connection status")
        self._connection_status.hide()
        layout.addWidget(self._connection_status)
        self._test_button.setToolTip(
            "Ask the server for its models with the URL above and the key "
            "(the one typed, else the stored one). Spends no tokens."
        )
        return group

    def _connect(self) -> None:
        self._url_edit.textChanged.connect(self.on_url_edit_text_changed)
        self._save_button.clicked.connect(self.on_save_button_clicked)
        self._delete_button.clicked.connect(self.on_delete_button_clicked)
        self._test_button.clicked.connect(self.on_test_button_clicked)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)

    # -- public API ------------------------------------------------------

    def updated_settings(self) -> Settings:
        """A copy of the settings with the dialog's base URL and timeout (never a key).

        An invalid URL is not taken: the stored one stays.
        """
        updated = copy.deepcopy(self._settings)
        updated.read_timeout_s = float(self._timeout_spin.value())
        url = self._url_edit.text().strip()
        if not check_base_url(url).is_valid:
            return updated
        for endpoint in updated.endpoints:
            if endpoint.name == DEFAULT_ENDPOINT:
                endpoint.base_url = url
                break
        else:
            updated.endpoints.insert(0, Endpoint(DEFAULT_ENDPOINT, url))
        return updated

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            # A window does not grow by itself for word-wrapped text (its height
            # depends on the width), so a long message would be cut off.
            needed = self.heightForWidth(self.width())
            if needed > self.height():
                self.resize(self.width(), needed)
        return handled

    def accept(self) -> None:
        """Close with OK, unless the base URL is invalid (then say why and stay)."""
        check = check_base_url(self._url_edit.text())
        if not check.is_valid:
            self._url_edit.setFocus()
            return
        self._key_edit.clear()
        super().accept()

    def reject(self) -> None:
        self._key_edit.clear()
        super().reject()

    # -- state -----------------------------------------------------------

    def _stored_url(self) -> str:
        try:
            return self._settings.endpoint(DEFAULT_ENDPOINT).base_url
        except KeyError:
            return OPENROUTER_URL

    def _start(self, job: Coroutine[Any, Any, object], on_done: Callable[[object], None]) -> None:
        """Run `job` with the buttons disabled; `on_done` only while the dialog exists."""
        self._jobs_running += 1
        self._update_buttons()

        def done(result: object) -> None:
            if not shiboken6.isValid(self):
                return  # the dialog was deleted while the job ran
            self._jobs_running -= 1
            self._update_buttons()
            on_done(result)

        self._run_job(job, done)

    def _update_buttons(self) -> None:
        idle = self._jobs_running == 0
        for button in (self._save_button, self._delete_button, self._test_button):
            button.setEnabled(idle)

    def _refresh_key_status(self, prefix: str = "") -> None:
        _show(self._key_status, "Checking the keyring…")
        self._start(
            asyncio.to_thread(self._keys.source, DEFAULT_ENDPOINT),
            lambda result: self._on_key_source(result, prefix),
        )

    def _on_key_source(self, result: object, prefix: str) -> None:
        if isinstance(result, KeySource):
            _show(self._key_status, prefix + _KEY_STATUS[result])
        elif isinstance(result, KeyringUnavailable):
            _show(self._key_status, prefix + str(result), ERROR_STYLE)
        elif isinstance(result, BaseException):
            _show(self._key_status, prefix + _message_of(result), ERROR_STYLE)

    # -- slots -----------------------------------------------------------

    @Slot(str)
    def on_url_edit_text_changed(self, text: str) -> None:
        check = check_base_url(text)
        if check.error is not None:
            _show(self._url_message, check.error, ERROR_STYLE)
        elif check.warning is not None:
            _show(self._url_message, "⚠ " + check.warning, WARNING_STYLE)
        else:
            _show(self._url_message, "")
        ok = self._buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(check.is_valid)

    @Slot()
    def on_save_button_clicked(self) -> None:
        key = self._key_edit.text()
        if not key.strip():
            _show(self._key_status, "Paste a key into the field first.", ERROR_STYLE)
            return
        _show(self._key_status, "Saving the key…")
        # Wrapped in ApiKey: qasync's executor logs the arguments of every call
        # at DEBUG, and a plain str would print the key there.
        self._start(asyncio.to_thread(self._store_key, ApiKey(key)), self._on_key_saved)

    def _store_key(self, key: ApiKey) -> None:
        """Runs in a worker thread: the keyring call blocks."""
        self._keys.set(DEFAULT_ENDPOINT, key.reveal())

    def _on_key_saved(self, result: object) -> None:
        if isinstance(result, BaseException):
            _show(self._key_status, _message_of(result), ERROR_STYLE)
            return
        self._key_edit.clear()
        self._refresh_key_status("Key saved. ")

    @Slot()
    def on_delete_button_clicked(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete key",
            "Delete the OpenRouter API key from the system keyring?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(self.on_confirm_box_button_clicked)
        box.finished.connect(box.deleteLater)
        box.open()  # not exec(): no nested event loop under qasync

    @Slot(QAbstractButton)
    def on_confirm_box_button_clicked(self, button: QAbstractButton) -> None:
        box = self.sender()
        if not isinstance(box, QMessageBox):
            return
        if box.standardButton(button) != QMessageBox.StandardButton.Yes:
            return
        _show(self._key_status, "Deleting the key…")
        self._start(asyncio.to_thread(self._keys.delete, DEFAULT_ENDPOINT), self._on_key_deleted)

    def _on_key_deleted(self, result: object) -> None:
        if isinstance(result, BaseException):
            _show(self._key_status, _message_of(result), ERROR_STYLE)
            return
        self._refresh_key_status("Key deleted. ")

    @Slot()
    def on_test_button_clicked(self) -> None:
        url = self._url_edit.text().strip()
        check = check_base_url(url)
        if check.error is not None:
            _show(self._connection_status, check.error, ERROR_STYLE)
            return
        typed = self._key_edit.text().strip()
        key = ApiKey(typed) if typed else None
        _show(self._connection_status, f"Connecting to {urlsplit(url).netloc or url}…")
        self._start(
            self._test_connection(url, key, float(self._timeout_spin.value())),
            self._on_connection_tested,
        )

    async def _test_connection(self, url: str, key: ApiKey | None, timeout_s: float) -> str:
        if key is None:
            try:
                key = await asyncio.to_thread(self._keys.get, DEFAULT_ENDPOINT)
            except KeyringUnavailable:
                key = None  # a local server needs none; OpenRouter's answer says what to do
        # httpx is imported on first use, not at start-up (about 85 ms).
        from chatroom.core.client import ChatClient

        client = ChatClient(url, key, read_timeout_s=timeout_s)
        try:
            return await client.test_connection()
        finally:
            await client.aclose()

    def _on_connection_tested(self, result: object) -> None:
        if isinstance(result, BaseException):
            _show(self._connection_status, _message_of(result), ERROR_STYLE)
        else:
            _show(self._connection_status, str(result), OK_STYLE)
