"""SettingsDialog: the endpoints (URL, concurrency limit, API key), timeouts, the turn budget.

The key field starts empty every time: a stored key is never loaded into a
widget, so it cannot be shoulder-surfed, copied out or left in memory by the
dialog; it is cleared whenever another endpoint is selected, so a key typed
for one endpoint is never saved under another. Every keyring call, the
connection test and the local-server scan run through the injected `run_job`
(RoomSession.run_job in the app), because keyring backends block.

Keys are saved and deleted at once. Everything else, including the removal
of an endpoint together with its key, takes effect only on OK.

A stored key is bound to the address (origin: scheme, host, port) it was
saved for; see `secrets`. When an endpoint's URL is edited to another
origin, the key section says plainly that the saved key will not be sent
there and asks for a key for the new address; "Move key here" rebinds the
saved key instead, after a Yes/Cancel question, and like saving it takes
effect at once.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import ipaddress
import logging
import re
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import shiboken6
from PySide6.QtCore import QEvent, QSignalBlocker, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.discovery import KNOWN_LOCAL_SERVERS, FoundServer, detect_local_servers
from chatroom.core.errors import ChatroomError, KeyringUnavailable
from chatroom.core.origins import origin_of
from chatroom.core.secrets import DEFAULT_ENDPOINT, ENV_VAR, ApiKey, KeySource, KeyStore
from chatroom.core.settings import OPENROUTER_URL, Endpoint, Settings, is_loopback_url

__all__ = ["MAX_CONCURRENT", "MAX_READ_TIMEOUT_S", "MAX_TURN_BUDGET_USD", "MIN_READ_TIMEOUT_S",
           "BaseUrlCheck", "RunJob", "SettingsDialog", "check_base_url", "check_endpoint_name"]

log = logging.getLogger(__name__)

#: Runs a coroutine off the widgets and hands its result, or the exception it
#: raised, to the callback on the GUI thread (RoomSession.run_job).
RunJob = Callable[[Coroutine[Any, Any, object], Callable[[object], None]], None]

MIN_READ_TIMEOUT_S: Final = 5
MAX_READ_TIMEOUT_S: Final = 600
#: The spin box's top; 0 in it means unlimited.
MAX_CONCURRENT: Final = 64
MAX_TURN_BUDGET_USD: Final = 1000.0
ERROR_STYLE: Final = "color: #b3261e;"
WARNING_STYLE: Final = "color: #8a5300;"
OK_STYLE: Final = "color: #1b6e2a;"
_ERROR_COLOR: Final = "#b3261e"
_KEY_STATUS: Final = {
    KeySource.KEYRING: "A key is stored in the system keyring",  # + " for <origin>."
    KeySource.ENVIRONMENT: f"Using {ENV_VAR} from the environment (not stored).",
    KeySource.NONE: "No key stored.",
}
_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+")
_MAX_NAME_LENGTH: Final = 40
#: Endpoint names for what detect_local_servers finds, by kind.
_NAME_BY_KIND: Final = {"Ollama": "ollama", "llama.cpp": "llamacpp", "LM Studio": "lmstudio",
                        "vLLM": "vllm"}
_NEW_ENDPOINT_NAME: Final = "custom"
_FIXED_NAME_TIP: Final = (
    "Seats and the stored key refer to an endpoint by its name, so a saved "
    "endpoint keeps it. To rename one, add a new endpoint and remove this one."
)

Status = tuple[str, str]  # (text, style sheet)


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


def check_endpoint_name(name: str, taken: Collection[str] = ()) -> str | None:
    """Why `name` cannot name an endpoint, or None when it can.

    It is the key's user name in the keyring and is written into saved seats,
    so it stays plain: letters, digits, - and _.
    """
    if not name:
        return "Enter a name for the endpoint."
    if len(name) > _MAX_NAME_LENGTH:
        return f"Keep the name to {_MAX_NAME_LENGTH} characters."
    if not _NAME_PATTERN.fullmatch(name):
        return "Use only letters, digits, - and _ in the name."
    if name in taken:
        return f"Another endpoint is already called “{name}”."
    return None


def _unique_name(base: str, taken: Collection[str]) -> str:
    """`base`, or `base-2`, `base-3`… whichever is free first."""
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def _name_for_kind(kind: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]", "", kind.lower())
    return _NAME_BY_KIND.get(kind, slug or "local")


def _url_identity(url: str) -> tuple[str, str, int | None, str] | None:
    """What makes two base URLs the same server (localhost = 127.0.0.1)."""
    try:
        parts = urlsplit(url.strip().rstrip("/"))
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if host == "localhost":
        host = "127.0.0.1"
    return parts.scheme.lower(), host, port, parts.path


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


def _log_removed_key(name: str, result: object) -> None:
    """After OK: the dialog is gone, so a failure can only be logged."""
    if isinstance(result, BaseException):
        log.warning("The key of the removed endpoint %s was not deleted: %s",
                    name, _message_of(result))


@dataclass(frozen=True)
class _KeyState:
    """What the keyring says about an endpoint's key."""

    source: KeySource
    #: The origin a stored key is bound to; None when none is stored or not bound yet.
    origin: str | None = None

    def status(self) -> str:
        if self.source is not KeySource.KEYRING:
            return _KEY_STATUS[self.source]
        where = f" for {self.origin}" if self.origin else ""
        return f"{_KEY_STATUS[KeySource.KEYRING]}{where}."


@dataclass(eq=False)  # compared by identity: two drafts may look alike while edited
class _Draft:
    """An endpoint as edited in the dialog, and what the dialog knows about its key."""

    name: str
    base_url: str
    max_concurrent: int | None
    #: The endpoint in the settings this draft edits; None for one added here.
    original: Endpoint | None = None
    #: Saved endpoints keep their name (seats and the key refer to it).
    name_locked: bool = False
    #: Whether the user set the limit; until then a new draft's follows its URL.
    limit_touched: bool = False
    key_status: Status | None = None  # None: not asked yet
    #: Where the key comes from and the origin a stored one is bound to (None: unknown).
    key_state: _KeyState | None = None
    key_serial: int = 0  # a key-status answer for an older question is dropped
    connection_status: Status = ("", "")

    @property
    def is_builtin(self) -> bool:
        return self.name == DEFAULT_ENDPOINT and self.name_locked

    @property
    def saved_url(self) -> str | None:
        """The URL in the settings: a key stored before keys were bound was sent there."""
        if self.original is not None:
            return self.original.base_url
        return OPENROUTER_URL if self.is_builtin else None

    @property
    def moved_from(self) -> str | None:
        """The origin of a stored key this draft's URL no longer matches, if any."""
        state, new = self.key_state, origin_of(self.base_url)
        if state is None or state.source is not KeySource.KEYRING or state.origin is None:
            return None
        return state.origin if new is not None and new != state.origin else None

    @classmethod
    def of(cls, endpoint: Endpoint) -> _Draft:
        return cls(endpoint.name, endpoint.base_url, endpoint.max_concurrent,
                   original=endpoint, name_locked=True)


def _drafts_of(settings: Settings) -> list[_Draft]:
    """One draft per endpoint, openrouter first (added when missing)."""
    drafts = [_Draft.of(endpoint) for endpoint in settings.endpoints]
    builtin = [d for d in drafts if d.name == DEFAULT_ENDPOINT]
    if not builtin:
        builtin = [_Draft(DEFAULT_ENDPOINT, OPENROUTER_URL, None, name_locked=True)]
    return builtin + [d for d in drafts if d.name != DEFAULT_ENDPOINT]


class SettingsDialog(QDialog):
    """Edits the endpoints, their API keys, the read timeout and the turn budget.

    Keys are saved or deleted at once through the keyring; the rest is
    returned by `updated_settings()` for the caller to apply after OK. On OK,
    the keys of removed endpoints are deleted through `run_job`.
    `local_ports` are the (kind, port) pairs "Detect local servers" probes.
    """

    def __init__(
        self,
        settings: Settings,
        keys: KeyStore,
        run_job: RunJob,
        parent: QWidget | None = None,
        *,
        base_url_override: str | None = None,
        local_ports: Sequence[tuple[str, int]] = KNOWN_LOCAL_SERVERS,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self._keys = keys
        self._run_job = run_job
        self._base_url_override = base_url_override
        self._local_ports = tuple(local_ports)
        self._jobs_running = 0
        self._drafts = _drafts_of(settings)
        self._removed_names: set[str] = set()
        #: The "Add" button of each server found and not added yet, with its row.
        self._found: dict[QPushButton, tuple[FoundServer, QWidget]] = {}
        self._pending_removal: _Draft | None = None
        #: The draft and URL the open "Move key" question is about.
        self._pending_move: tuple[_Draft, str] | None = None
        self._make_widgets()
        self._build()
        self._connect()
        self._endpoint_list.addItems([d.name for d in self._drafts])
        self._endpoint_list.setCurrentRow(0)

    # -- construction ----------------------------------------------------

    def _make_widgets(self) -> None:
        self._endpoint_list = QListWidget()
        self._add_button = QPushButton("Add endpoint")
        self._remove_button = QPushButton("Remove endpoint")
        self._detect_button = QPushButton("Detect local servers")
        self._detect_status = QLabel()
        self._found_box = QWidget()
        self._found_layout = QVBoxLayout(self._found_box)
        self._editor_group = QGroupBox()
        self._name_edit = QLineEdit()
        self._name_message = QLabel()
        self._url_edit = QLineEdit()
        self._url_message = QLabel()
        self._override_label = QLabel()
        self._limit_spin = QSpinBox()
        self._key_group = QGroupBox()
        self._key_edit = QLineEdit()
        self._key_status = QLabel()
        self._origin_message = QLabel()
        self._move_button = QPushButton("Move key here")
        self._key_note = QLabel()
        self._save_button = QPushButton("Save key")
        self._delete_button = QPushButton("Delete key")
        self._test_button = QPushButton("Test connection")
        self._connection_status = QLabel()
        self._timeout_spin = QSpinBox()
        self._budget_spin = QDoubleSpinBox()
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )

    def _build(self) -> None:
        left = QVBoxLayout()
        left.addWidget(self._endpoints_group(), 1)
        left.addWidget(self._general_group())
        right = QVBoxLayout()
        right.addWidget(self._editor())
        right.addWidget(self._key_section())
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 2)
        columns.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addWidget(self._buttons)
        self.setMinimumWidth(760)

    def _endpoints_group(self) -> QGroupBox:
        group = QGroupBox("Endpoints")
        layout = QVBoxLayout(group)
        self._endpoint_list.setAccessibleName("Endpoints")
        self._endpoint_list.setMinimumHeight(110)
        layout.addWidget(self._endpoint_list, 1)
        row = QHBoxLayout()
        row.addWidget(self._add_button)
        row.addWidget(self._remove_button)
        layout.addLayout(row)
        self._remove_button.setToolTip("The openrouter endpoint is built in and stays.")
        self._detect_button.setAccessibleName("Detect local servers")
        ports = ", ".join(str(port) for _, port in self._local_ports)
        self._detect_button.setToolTip(
            f"Look for llama.cpp, Ollama, LM Studio or vLLM on this machine (ports {ports})."
        )
        detect_row = QHBoxLayout()
        detect_row.addWidget(self._detect_button)
        detect_row.addStretch(1)
        layout.addLayout(detect_row)
        self._detect_status.setWordWrap(True)
        self._detect_status.setAccessibleName("Local servers")
        self._detect_status.hide()
        layout.addWidget(self._detect_status)
        self._found_layout.setContentsMargins(0, 0, 0, 0)
        self._found_box.hide()
        layout.addWidget(self._found_box)
        return group

    def _general_group(self) -> QGroupBox:
        group = QGroupBox("Replies")
        form = QFormLayout(group)
        self._timeout_spin.setRange(MIN_READ_TIMEOUT_S, MAX_READ_TIMEOUT_S)
        self._timeout_spin.setSuffix(" s")
        self._timeout_spin.setValue(round(self._settings.read_timeout_s))
        self._timeout_spin.setAccessibleName("Read timeout")
        self._timeout_spin.setToolTip(
            "How long to wait for the next bytes of a reply before giving up."
        )
        form.addRow("Read timeout", self._timeout_spin)
        spin = self._budget_spin
        spin.setRange(0.0, MAX_TURN_BUDGET_USD)
        spin.setDecimals(2)  # cents: a budget finer than that asks for nothing useful
        spin.setSingleStep(0.05)
        spin.setPrefix("$")
        spin.setSpecialValueText("none")
        spin.setValue(self._settings.turn_budget_usd or 0.0)
        self._shown_budget = spin.value()
        spin.setAccessibleName("Turn budget")
        spin.setToolTip(
            "Ask before sending a turn whose estimated cost is above this. "
            "“none”: never ask."
        )
        form.addRow("Turn budget (USD)", spin)
        return group

    def _editor(self) -> QGroupBox:
        form = QFormLayout(self._editor_group)
        self._name_edit.setAccessibleName("Name")
        self._name_edit.setMaxLength(_MAX_NAME_LENGTH)
        form.addRow("Name", self._name_edit)
        self._name_message.setWordWrap(True)
        self._name_message.setAccessibleName("Endpoint name problem")
        form.addRow(self._name_message)
        self._url_edit.setAccessibleName("Base URL")
        self._url_edit.setPlaceholderText("e.g. http://127.0.0.1:8080/v1")
        self._url_edit.setToolTip(
            "Any OpenAI-compatible server: OpenRouter, a gateway, or a local "
            "llama.cpp, Ollama, LM Studio or vLLM server."
        )
        form.addRow("Base URL", self._url_edit)
        for label, name in ((self._url_message, "Base URL problem"),
                            (self._override_label, "Base URL override")):
            label.setWordWrap(True)
            label.setAccessibleName(name)
            form.addRow(label)
        self._limit_spin.setRange(0, MAX_CONCURRENT)
        self._limit_spin.setSpecialValueText("unlimited")
        self._limit_spin.setAccessibleName("Max concurrent replies")
        self._limit_spin.setToolTip(
            "How many replies may stream from this server at once; the others wait "
            "in a queue. A server on this machine usually serves one at a time."
        )
        form.addRow("Max concurrent replies", self._limit_spin)
        return self._editor_group

    def _key_section(self) -> QGroupBox:
        layout = QVBoxLayout(self._key_group)
        self._key_status.setWordWrap(True)
        self._key_status.setAccessibleName("Key status")
        layout.addWidget(self._key_status)
        self._origin_message.setWordWrap(True)
        self._origin_message.setAccessibleName("Key address")
        self._origin_message.hide()
        layout.addWidget(self._origin_message)
        self._move_button.setAccessibleName("Move key to this address")
        self._move_button.setToolTip(
            "Send the saved key to the new address from now on, and no longer to the old "
            "one. Only for the same service at a new address."
        )
        self._move_button.hide()
        move_row = QHBoxLayout()
        move_row.addWidget(self._move_button)
        move_row.addStretch(1)
        layout.addLayout(move_row)
        self._key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self._key_edit.setAccessibleName("API key")
        self._key_edit.setPlaceholderText("Paste a new key to save or test it")
        layout.addWidget(self._key_edit)
        row = QHBoxLayout()
        row.addWidget(self._save_button)
        row.addWidget(self._delete_button)
        row.addStretch(1)
        row.addWidget(self._test_button)
        layout.addLayout(row)
        self._connection_status.setWordWrap(True)
        self._connection_status.setAccessibleName("Connection status")
        self._connection_status.hide()
        layout.addWidget(self._connection_status)
        self._test_button.setToolTip(
            "Ask the server for its models with the URL above and the key "
            "(the one typed, else the stored one). Spends no tokens."
        )
        self._key_note.setWordWrap(True)
        self._key_note.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self._key_note)
        return self._key_group

    def _connect(self) -> None:
        self._endpoint_list.currentRowChanged.connect(self.on_endpoint_list_current_row_changed)
        self._add_button.clicked.connect(self.on_add_button_clicked)
        self._remove_button.clicked.connect(self.on_remove_button_clicked)
        self._detect_button.clicked.connect(self.on_detect_button_clicked)
        self._name_edit.textChanged.connect(self.on_name_edit_text_changed)
        self._name_edit.editingFinished.connect(self.on_name_edit_editing_finished)
        self._url_edit.textChanged.connect(self.on_url_edit_text_changed)
        self._limit_spin.valueChanged.connect(self.on_limit_spin_value_changed)
        self._save_button.clicked.connect(self.on_save_button_clicked)
        self._delete_button.clicked.connect(self.on_delete_button_clicked)
        self._move_button.clicked.connect(self.on_move_button_clicked)
        self._test_button.clicked.connect(self.on_test_button_clicked)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)

    # -- public API ------------------------------------------------------

    def updated_settings(self) -> Settings:
        """A copy of the settings with the dialog's endpoints, timeout and budget (never a key).

        An endpoint with an invalid name or URL is not taken: a saved one
        stays as it was, a new one is left out.
        """
        updated = copy.deepcopy(self._settings)
        updated.read_timeout_s = float(self._timeout_spin.value())
        updated.turn_budget_usd = self._budget()
        endpoints: list[Endpoint] = []
        for index, draft in enumerate(self._drafts):
            if self._problem_of(index) is None:
                endpoints.append(
                    Endpoint(draft.name, draft.base_url.strip(), draft.max_concurrent)
                )
            elif draft.original is not None:
                endpoints.append(copy.deepcopy(draft.original))
        if not any(e.name == DEFAULT_ENDPOINT for e in endpoints):
            endpoints.insert(0, Endpoint(DEFAULT_ENDPOINT, OPENROUTER_URL))
        updated.endpoints = endpoints
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
        """Close with OK, unless an endpoint is invalid (then show it and stay)."""
        for index in range(len(self._drafts)):
            problem = self._problem_of(index)
            if problem is not None:
                self._endpoint_list.setCurrentRow(index)
                edit = self._name_edit if problem == "name" else self._url_edit
                edit.setFocus()
                return
        kept = {draft.name for draft in self._drafts}
        for name in sorted(self._removed_names - kept):
            deletion = asyncio.to_thread(self._keys.delete, name)
            self._run_job(deletion, functools.partial(_log_removed_key, name))
        self._key_edit.clear()
        super().accept()

    def reject(self) -> None:
        self._key_edit.clear()
        super().reject()

    # -- state -----------------------------------------------------------

    @property
    def _current(self) -> _Draft:
        return self._drafts[max(self._endpoint_list.currentRow(), 0)]

    def _budget(self) -> float | None:
        value = self._budget_spin.value()
        if value == self._shown_budget:
            # Untouched: keep the stored value, even one finer than cents.
            return self._settings.turn_budget_usd
        return value or None

    def _name_problem(self, index: int) -> str | None:
        """Why the draft at `index` has a bad name; an earlier draft keeps a shared name."""
        draft = self._drafts[index]
        if draft.name_locked:
            return None  # saved, or checked when its key was saved; an old file may hold any name
        taken = {other.name for other in self._drafts[:index]}
        return check_endpoint_name(draft.name, taken)

    def _problem_of(self, index: int) -> str | None:
        """Which field keeps the draft at `index` from being saved ("name", "url"), if any."""
        if self._name_problem(index) is not None:
            return "name"
        if not check_base_url(self._drafts[index].base_url).is_valid:
            return "url"
        return None

    def _refresh_checks(self) -> None:
        """Show the current draft's problems, mark bad drafts in the list, gate OK."""
        all_valid = True
        for index, draft in enumerate(self._drafts):
            item = self._endpoint_list.item(index)
            name_problem = self._name_problem(index)
            url_problem = check_base_url(draft.base_url).error
            problem = name_problem or url_problem
            all_valid = all_valid and problem is None
            item.setText(draft.name or "(no name)")
            item.setToolTip(problem or draft.base_url)
            item.setForeground(QColor(_ERROR_COLOR) if problem else self.palette().text())
        row = self._endpoint_list.currentRow()
        _show(self._name_message, self._name_problem(row) or "", ERROR_STYLE)
        check = check_base_url(self._current.base_url)
        if check.error is not None:
            _show(self._url_message, check.error, ERROR_STYLE)
        elif check.warning is not None:
            _show(self._url_message, "⚠ " + check.warning, WARNING_STYLE)
        else:
            _show(self._url_message, "")
        self._buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(all_valid)

    def _show_draft(self, draft: _Draft) -> None:
        """Fill the editor and the key section with `draft`."""
        with QSignalBlocker(self._name_edit), QSignalBlocker(self._url_edit), \
                QSignalBlocker(self._limit_spin):
            self._name_edit.setText(draft.name)
            self._url_edit.setText(draft.base_url)
            self._limit_spin.setValue(min(draft.max_concurrent or 0, MAX_CONCURRENT))
        self._lock_name(draft.name_locked)
        self._key_edit.clear()  # a key typed for one endpoint is never saved for another
        self._show_titles(draft)
        override = self._base_url_override if draft.is_builtin else None
        override_warning = check_base_url(override).warning if override else None
        _show(self._override_label, "" if not override else
              f"This run uses --base-url {override} instead. The URL above is saved "
              "and used when Chatroom starts without --base-url. The stored key goes "
              "there only if it was saved for that address or it is on this machine; "
              f"{ENV_VAR} goes wherever the run points."
              + (f" {override_warning}" if override_warning else ""))
        _show(self._connection_status, *draft.connection_status)
        if draft.key_status is None:
            self._refresh_key_status(draft)
        else:
            _show(self._key_status, *draft.key_status)
        self._refresh_origin_message(draft)
        self._refresh_checks()
        self._update_buttons()

    def _lock_name(self, locked: bool) -> None:
        # Without a frame, a fixed name reads as text rather than as a field.
        self._name_edit.setReadOnly(locked)
        self._name_edit.setFrame(not locked)
        self._name_edit.setStyleSheet("background: transparent;" if locked else "")
        self._name_edit.setToolTip(_FIXED_NAME_TIP if locked else "")

    def _show_titles(self, draft: _Draft) -> None:
        name = draft.name or "new endpoint"
        self._editor_group.setTitle(f"Endpoint “{name}”")
        self._key_group.setTitle(f"API key for “{name}”")
        if draft.is_builtin:
            note = ("Keys are kept in the system keyring, never in a file, and sent only "
                    f"to the address they were saved for. {ENV_VAR}, when set, is used "
                    "instead for that run.")
        else:
            note = ("Keys are kept in the system keyring under the endpoint's name, never "
                    "in a file, and sent only to the address they were saved for. A server "
                    "on this machine usually needs none.")
        self._key_note.setText(note)

    def _set_key_status(self, draft: _Draft, text: str, style: str = "") -> None:
        draft.key_status = (text, style)
        if draft is self._current:
            _show(self._key_status, text, style)

    def _set_connection_status(self, draft: _Draft, text: str, style: str = "") -> None:
        draft.connection_status = (text, style)
        if draft is self._current:
            _show(self._connection_status, text, style)

    def _add_draft(self, draft: _Draft) -> None:
        self._drafts.append(draft)
        self._endpoint_list.addItem(draft.name)
        self._endpoint_list.setCurrentRow(len(self._drafts) - 1)

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
        for button in (self._save_button, self._delete_button, self._move_button,
                       self._test_button, self._detect_button):
            button.setEnabled(idle)
        self._remove_button.setEnabled(not self._current.is_builtin)

    def _refresh_key_status(self, draft: _Draft, prefix: str = "") -> None:
        draft.key_serial += 1
        serial = draft.key_serial
        if self._name_error(draft) is not None:
            self._set_key_status(draft, "Give the endpoint a valid name to store a key for it.")
            return
        self._set_key_status(draft, "Checking the keyring…")

        def on_state(result: object) -> None:
            if draft.key_serial != serial:
                return  # the name changed meanwhile; a newer answer is coming
            if isinstance(result, _KeyState):
                draft.key_state = result
                self._set_key_status(draft, prefix + result.status())
                self._refresh_origin_message(draft)
            elif isinstance(result, KeyringUnavailable):
                self._set_key_status(draft, prefix + str(result), ERROR_STYLE)
            elif isinstance(result, BaseException):
                self._set_key_status(draft, prefix + _message_of(result), ERROR_STYLE)

        self._start(asyncio.to_thread(self._key_state, draft.name, draft.saved_url), on_state)

    def _key_state(self, name: str, saved_url: str | None) -> _KeyState:
        """Runs in a worker thread. Binds a key stored before keys were bound to `saved_url`."""
        source = self._keys.source(name)
        if source is not KeySource.KEYRING:
            return _KeyState(source)
        return _KeyState(source, self._keys.origin(name, saved_url))

    def _refresh_origin_message(self, draft: _Draft) -> None:
        """Say so when the draft's URL is not the address its stored key was saved for."""
        if draft is not self._current:
            return
        old, new = draft.moved_from, origin_of(draft.base_url)
        self._move_button.setVisible(old is not None)
        if old is None:
            _show(self._origin_message, "")
            return
        _show(self._origin_message,
              f"⚠ The stored key was saved for {old}. It will not be sent to {new}. "
              f"Paste a key for {new} below and press Save key, or, if this is the same "
              "service at a new address, press Move key here.", WARNING_STYLE)

    def _name_error(self, draft: _Draft) -> str | None:
        """Why the draft's name cannot hold a key; a duplicate's key is another endpoint's."""
        if draft in self._drafts:
            return self._name_problem(self._drafts.index(draft))
        return check_endpoint_name(draft.name)

    def _keyable(self, draft: _Draft) -> bool:
        """Whether a key can be stored under the draft's name; says why not otherwise."""
        if self._name_error(draft) is None:
            return True
        self._set_key_status(draft, "Give the endpoint a valid name first.", ERROR_STYLE)
        return False

    # -- slots: the endpoint list ----------------------------------------

    @Slot(int)
    def on_endpoint_list_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self._drafts):
            self._show_draft(self._drafts[row])

    @Slot()
    def on_add_button_clicked(self) -> None:
        name = _unique_name(_NEW_ENDPOINT_NAME, {d.name for d in self._drafts})
        self._add_draft(_Draft(name, "", None))
        self._name_edit.setFocus()
        self._name_edit.selectAll()

    @Slot()
    def on_remove_button_clicked(self) -> None:
        draft = self._current
        if draft.is_builtin:
            return
        self._pending_removal = draft
        self._ask(
            "Remove endpoint",
            f"Remove the endpoint “{draft.name}”?\n\nWhen you press OK in Settings, "
            "its API key, if one is stored, is deleted from the system keyring too.",
            self.on_remove_box_button_clicked,
        )

    def _ask(self, title: str, question: str, on_answer: Callable[[QAbstractButton], None]) -> None:
        """A Yes/Cancel question (Cancel by default) whose answer goes to `on_answer`."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(on_answer)
        box.finished.connect(box.deleteLater)
        box.open()  # not exec(): no nested event loop under qasync

    @Slot(QAbstractButton)
    def on_remove_box_button_clicked(self, button: QAbstractButton) -> None:
        box, draft = self.sender(), self._pending_removal
        self._pending_removal = None
        if not isinstance(box, QMessageBox) or draft not in self._drafts:
            return
        if box.standardButton(button) != QMessageBox.StandardButton.Yes:
            return
        row = self._drafts.index(draft)
        del self._drafts[row]
        if check_endpoint_name(draft.name) is None:
            self._removed_names.add(draft.name)
        with QSignalBlocker(self._endpoint_list):
            self._endpoint_list.takeItem(row)
            self._endpoint_list.setCurrentRow(min(row, len(self._drafts) - 1))
        self._show_draft(self._current)

    # -- slots: local servers --------------------------------------------

    @Slot()
    def on_detect_button_clicked(self) -> None:
        self._clear_found()
        _show(self._detect_status, "Looking for local servers…")
        self._start(detect_local_servers(self._local_ports), self._on_servers_detected)

    def _clear_found(self) -> None:
        for button in list(self._found):
            self._drop_found_row(button)

    def _drop_found_row(self, button: QPushButton) -> FoundServer:
        server, row = self._found.pop(button)
        self._found_layout.removeWidget(row)
        row.deleteLater()
        self._found_box.setVisible(bool(self._found))
        return server

    def _on_servers_detected(self, result: object) -> None:
        if isinstance(result, BaseException):
            _show(self._detect_status, _message_of(result), ERROR_STYLE)
            return
        if not isinstance(result, list):
            return
        found = [server for server in result if isinstance(server, FoundServer)]
        new = [s for s in found if not self._is_configured(s.base_url)]
        if not found:
            ports = ", ".join(str(port) for _, port in self._local_ports)
            _show(self._detect_status, f"No local servers found on ports {ports}.")
        elif not new:
            kinds = ", ".join(s.kind for s in found)
            _show(self._detect_status, f"Found {kinds}, already in the list.")
        else:
            _show(self._detect_status, "Found on this machine:")
            for server in new:
                self._add_found_row(server)
            self._found_box.show()

    def _is_configured(self, base_url: str) -> bool:
        identity = _url_identity(base_url)
        return any(_url_identity(d.base_url) == identity for d in self._drafts)

    def _add_found_row(self, server: FoundServer) -> None:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        count = len(server.models)
        label = QLabel(f"{server.kind} on {urlsplit(server.base_url).netloc}, "
                       f"{count} model{'' if count == 1 else 's'}")
        label.setWordWrap(True)  # a long kind must not widen the column
        label.setToolTip("\n".join([server.base_url, *server.models[:20]]))
        layout.addWidget(label, 1)
        add = QPushButton("Add")
        add.setAccessibleName(f"Add {server.kind} at {server.base_url}")
        add.clicked.connect(self.on_found_add_button_clicked)
        layout.addWidget(add)
        self._found[add] = (server, row)
        self._found_layout.addWidget(row)

    @Slot()
    def on_found_add_button_clicked(self) -> None:
        button = self.sender()
        if not isinstance(button, QPushButton) or button not in self._found:
            return
        server = self._drop_found_row(button)
        if self._is_configured(server.base_url):
            return  # added meanwhile by hand
        name = _unique_name(_name_for_kind(server.kind), {d.name for d in self._drafts})
        # Endpoint resolves the limit from the URL: 1 for a server on this machine.
        limit = Endpoint(name, server.base_url).max_concurrent
        self._add_draft(_Draft(name, server.base_url, limit))
        _show(self._detect_status, f"Added {server.kind} as “{name}”.", OK_STYLE)

    # -- slots: the editor -----------------------------------------------

    @Slot(str)
    def on_name_edit_text_changed(self, text: str) -> None:
        draft = self._current
        if draft.name_locked:
            return
        draft.name = text.strip()
        draft.key_serial += 1  # a pending answer is for the old name
        draft.key_status = None
        draft.key_state = None
        self._refresh_origin_message(draft)
        _show(self._key_status, "")
        self._show_titles(draft)
        self._refresh_checks()

    @Slot()
    def on_name_edit_editing_finished(self) -> None:
        draft = self._current
        if draft.key_status is None:
            self._refresh_key_status(draft)

    @Slot(str)
    def on_url_edit_text_changed(self, text: str) -> None:
        draft = self._current
        draft.base_url = text
        if draft.original is None and not draft.limit_touched:
            draft.max_concurrent = 1 if is_loopback_url(text.strip()) else None
            with QSignalBlocker(self._limit_spin):
                self._limit_spin.setValue(draft.max_concurrent or 0)
        self._refresh_checks()
        self._refresh_origin_message(draft)

    @Slot(int)
    def on_limit_spin_value_changed(self, value: int) -> None:
        draft = self._current
        draft.max_concurrent = value or None
        draft.limit_touched = True

    # -- slots: the key --------------------------------------------------

    @Slot()
    def on_save_button_clicked(self) -> None:
        draft, key = self._current, self._key_edit.text()
        if not key.strip():
            self._set_key_status(draft, "Paste a key into the field first.", ERROR_STYLE)
            return
        if not self._keyable(draft):
            return
        url = draft.base_url.strip()
        if origin_of(url) is None:
            self._set_key_status(draft, "Enter a valid base URL first: the key is saved for "
                                 "that address only.", ERROR_STYLE)
            return
        # The key is stored under this name, so the name stays from now on.
        draft.name_locked = True
        self._lock_name(True)
        self._set_key_status(draft, "Saving the key…")
        # Wrapped in ApiKey: qasync's executor logs the arguments of every call
        # at DEBUG, and a plain str would print the key there.
        self._start(
            asyncio.to_thread(self._store_key, draft.name, ApiKey(key), url),
            lambda result: self._on_key_saved(draft, result),
        )

    def _store_key(self, name: str, key: ApiKey, url: str) -> None:
        """Runs in a worker thread: the keyring call blocks."""
        self._keys.set(name, key.reveal(), url)

    def _on_key_saved(self, draft: _Draft, result: object) -> None:
        if isinstance(result, BaseException):
            self._set_key_status(draft, _message_of(result), ERROR_STYLE)
            return
        if draft is self._current:
            self._key_edit.clear()
        self._refresh_key_status(draft, "Key saved. ")

    @Slot()
    def on_delete_button_clicked(self) -> None:
        draft = self._current
        if not self._keyable(draft):
            return
        self._ask(
            "Delete key",
            f"Delete the API key of “{draft.name}” from the system keyring?",
            self.on_delete_box_button_clicked,
        )

    @Slot(QAbstractButton)
    def on_delete_box_button_clicked(self, button: QAbstractButton) -> None:
        box = self.sender()
        if not isinstance(box, QMessageBox):
            return
        if box.standardButton(button) != QMessageBox.StandardButton.Yes:
            return
        draft = self._current  # the box is modal: the selection did not change
        self._set_key_status(draft, "Deleting the key…")
        self._start(
            asyncio.to_thread(self._keys.delete, draft.name),
            lambda result: self._on_key_deleted(draft, result),
        )

    def _on_key_deleted(self, draft: _Draft, result: object) -> None:
        if isinstance(result, BaseException):
            self._set_key_status(draft, _message_of(result), ERROR_STYLE)
            return
        self._refresh_key_status(draft, "Key deleted. ")

    @Slot()
    def on_move_button_clicked(self) -> None:
        draft = self._current
        old, url = draft.moved_from, draft.base_url.strip()
        new = origin_of(url)
        if old is None or new is None or not self._keyable(draft):
            return
        self._pending_move = (draft, url)
        self._ask(
            "Move key",
            f"Send the key of “{draft.name}”, saved for {old}, to {new} from now on?\n\n"
            f"It will no longer be sent to {old}. Do this only if {new} is the same service "
            "at a new address: anyone running that server receives the key.\n\n"
            "This takes effect at once; press OK in Settings to keep the new URL too.",
            self.on_move_box_button_clicked,
        )

    @Slot(QAbstractButton)
    def on_move_box_button_clicked(self, button: QAbstractButton) -> None:
        box, pending = self.sender(), self._pending_move
        self._pending_move = None
        if not isinstance(box, QMessageBox) or pending is None:
            return
        if box.standardButton(button) != QMessageBox.StandardButton.Yes:
            return
        draft, url = pending
        self._set_key_status(draft, "Moving the key…")
        self._start(
            asyncio.to_thread(self._keys.move, draft.name, url),
            lambda result: self._on_key_moved(draft, result),
        )

    def _on_key_moved(self, draft: _Draft, result: object) -> None:
        if isinstance(result, BaseException):
            self._set_key_status(draft, _message_of(result), ERROR_STYLE)
            return
        self._refresh_key_status(draft, "Key moved. ")

    @Slot()
    def on_test_button_clicked(self) -> None:
        draft = self._current
        url = draft.base_url.strip()
        check = check_base_url(url)
        if check.error is not None:
            self._set_connection_status(draft, check.error, ERROR_STYLE)
            return
        typed = self._key_edit.text().strip()
        key = ApiKey(typed) if typed else None
        stored_name = draft.name if self._name_error(draft) is None else None
        self._set_connection_status(draft, f"Connecting to {urlsplit(url).netloc or url}…")
        self._start(
            self._test_connection(url, key, stored_name, float(self._timeout_spin.value()),
                                  draft.saved_url),
            lambda result: self._on_connection_tested(draft, result),
        )

    async def _test_connection(
        self, url: str, key: ApiKey | None, stored_name: str | None, timeout_s: float,
        saved_url: str | None,
    ) -> str:
        """Ask the server at `url`; a stored key goes along only if it was saved for `url`.

        KeyOriginMismatch, the message shown, when the stored key is another address's.
        """
        if key is None and stored_name is not None:
            try:
                key = await asyncio.to_thread(self._stored_key, stored_name, url, saved_url)
            except KeyringUnavailable:
                key = None  # a local server needs none; OpenRouter's answer says what to do
        # httpx is imported on first use, not at start-up (about 85 ms).
        from chatroom.core.client import ChatClient

        client = ChatClient(url, key, read_timeout_s=timeout_s)
        try:
            return await client.test_connection()
        finally:
            await client.aclose()

    def _stored_key(self, name: str, url: str, saved_url: str | None) -> ApiKey | None:
        """Runs in a worker thread. The stored key, if it was saved for `url`'s origin."""
        if saved_url is not None and self._keys.source(name) is KeySource.KEYRING:
            # A key from before keys were bound was sent to the saved URL, not
            # to the one being edited: bind it there before asking.
            self._keys.origin(name, saved_url)
        return self._keys.get(name, url)

    def _on_connection_tested(self, draft: _Draft, result: object) -> None:
        if isinstance(result, BaseException):
            self._set_connection_status(draft, _message_of(result), ERROR_STYLE)
        else:
            self._set_connection_status(draft, str(result), OK_STYLE)
