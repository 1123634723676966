"""Non-secret settings, kept as JSON in the config directory.

The file is `paths.settings_path()`. It holds no API key: there is no field
for one, keys live in the keyring (see `secrets`). Writes are atomic and the
file is private to the user (mode 0o600).

Loading never fails on content: a missing file gives the defaults; a value of
the wrong type falls back to its default; an unreadable document (bad JSON,
not an object) gives all defaults. Whenever something was dropped, the file is
first renamed to `settings.json.corrupt-<UTC timestamp>`, so the user's data
is kept for a human to look at, and the next save writes a clean file.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NoReturn, TypeVar

from chatroom.core.atomicfile import write_atomic
from chatroom.core.errors import SettingsError
# Re-exported: callers have imported it from here since before origins.py.
from chatroom.core.origins import is_loopback_url
from chatroom.core.secrets import DEFAULT_ENDPOINT

__all__ = [
    "DEFAULT_READ_TIMEOUT_S",
    "MAX_RECENT_MODELS",
    "OPENROUTER_URL",
    "SETTINGS_VERSION",
    "LAYOUTS",
    "Endpoint",
    "ParamValue",
    "SavedSeat",
    "is_loopback_url",
    "Settings",
    "load_settings",
    "save_settings",
]

log = logging.getLogger(__name__)

OPENROUTER_URL: Final = "https://openrouter.ai/api/v1"
MAX_RECENT_MODELS: Final = 30
DEFAULT_READ_TIMEOUT_S: Final = 120.0
# Written into the file so that a later format can be migrated; not read yet.
SETTINGS_VERSION: Final = 1

ParamValue = float | int | list[str]

_T = TypeVar("_T")


#: Endpoint.max_concurrent before it is resolved from the URL.
_AUTO: Final = -1
LAYOUTS: Final = ("columns", "grid", "tabs")


@dataclass
class Endpoint:
    """A named OpenAI-compatible server; its key, if any, is in the keyring.

    The key is bound to the origin it was saved for, not to `base_url`: a
    new URL on another server does not get it (see `secrets`).

    `max_concurrent` caps the replies streaming at once from it (None =
    unlimited); left out, it is 1 for a server on this machine, which
    usually serves one request at a time, and unlimited otherwise.
    """

    name: str
    base_url: str
    max_concurrent: int | None = _AUTO

    def __post_init__(self) -> None:
        if self.max_concurrent == _AUTO:
            self.max_concurrent = 1 if is_loopback_url(self.base_url) else None


@dataclass
class SavedSeat:
    """A seat of the last session: which model, on which endpoint, with which overrides."""

    model: str
    endpoint: str = DEFAULT_ENDPOINT
    params: dict[str, ParamValue] = field(default_factory=dict)


def _default_endpoints() -> list[Endpoint]:
    return [Endpoint(DEFAULT_ENDPOINT, OPENROUTER_URL)]


@dataclass
class Settings:
    """Everything Chatroom remembers between runs, except keys and conversations."""

    endpoints: list[Endpoint] = field(default_factory=_default_endpoints)
    #: The last session's seats, in order.
    seats: list[SavedSeat] = field(default_factory=list)
    #: Most recent first, at most MAX_RECENT_MODELS.
    recent_models: list[str] = field(default_factory=list)
    #: Room parameter values the user changed from their defaults.
    params: dict[str, ParamValue] = field(default_factory=dict)
    system_prompt: str = ""
    #: base64 of QMainWindow.saveGeometry(); "" when unknown.
    window_geometry: str = ""
    #: base64 of QMainWindow.saveState(); "" when unknown.
    window_state: str = ""
    #: base64 of the pane splitter's saveState(); "" when unknown.
    splitter_state: str = ""
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    #: Ask before sending a turn whose estimated cost may exceed this (USD); None = never.
    turn_budget_usd: float | None = None
    #: How panes are laid out: one of LAYOUTS.
    layout: str = "columns"
    #: Whether the panes scroll together.
    synced_scrolling: bool = False

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name`; KeyError if there is none."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)

    def remember_model(self, model: str) -> None:
        """Put `model` first in recent_models, without duplicates, keeping at most 30."""
        if not model:
            raise ValueError("A model id cannot be empty.")
        rest = [m for m in self.recent_models if m != model]
        self.recent_models = [model, *rest][:MAX_RECENT_MODELS]


def load_settings(path: Path) -> Settings:
    """Read the settings at `path`; see the module docstring for what is forgiven.

    Raises SettingsError only when the file exists but cannot be read at all
    (permissions, a directory in its place): returning defaults then would
    overwrite the user's settings at the next save.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise SettingsError(f"Could not read the settings file {path}: {exc.strerror}.") from exc
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:  # also UnicodeDecodeError and json.JSONDecodeError
        _set_aside(path, "it is not valid JSON")
        return Settings()
    if not isinstance(document, dict):
        _set_aside(path, "it is not a JSON object")
        return Settings()
    settings, rejected = _settings_from(document)
    if rejected:
        _set_aside(path, "invalid values for " + ", ".join(rejected))
    return settings


def save_settings(path: Path, settings: Settings) -> None:
    """Write `settings` to `path` atomically: JSON, sorted keys, indent 2, mode 0o600.

    Raises SettingsError when a value could not be loaded back (wrong type,
    NaN) or the file cannot be written.
    """
    document: dict[str, object] = dataclasses.asdict(settings)
    _, rejected = _settings_from(document)
    if rejected:
        # Checked before json.dumps so that a stray object (even an ApiKey)
        # is refused by name instead of being serialised or half-written.
        raise SettingsError("Settings not saved: invalid values for " + ", ".join(rejected) + ".")
    document["version"] = SETTINGS_VERSION
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    try:
        write_atomic(path, text.encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise SettingsError(f"Could not save settings to {path}: {exc.strerror or exc}.") from exc


def _settings_from(document: dict[str, object]) -> tuple[Settings, list[str]]:
    """Settings from a parsed document, and the names of the fields that were invalid."""
    settings = Settings()
    rejected: list[str] = []

    def take(name: str, parse: Callable[[object], _T | None]) -> _T | None:
        if name not in document:
            return None
        value = parse(document[name])
        if value is None:
            rejected.append(name)
        return value

    if (endpoints := take("endpoints", _parse_endpoints)) is not None:
        settings.endpoints = endpoints
    if (seats := take("seats", _parse_seats)) is not None:
        settings.seats = seats
    if (recent := take("recent_models", _parse_str_list)) is not None:
        settings.recent_models = list(dict.fromkeys(recent))[:MAX_RECENT_MODELS]
    if (params := take("params", _parse_params)) is not None:
        settings.params = params
    for name in ("system_prompt", "window_geometry", "window_state", "splitter_state"):
        if (text := take(name, _parse_str)) is not None:
            setattr(settings, name, text)
    if (timeout_s := take("read_timeout_s", _parse_positive_number)) is not None:
        settings.read_timeout_s = timeout_s
    if "turn_budget_usd" in document and document["turn_budget_usd"] is not None:
        settings.turn_budget_usd = take("turn_budget_usd", _parse_positive_number)
    if (layout := take("layout", _parse_layout)) is not None:
        settings.layout = layout
    if (synced := take("synced_scrolling", _parse_bool)) is not None:
        settings.synced_scrolling = synced
    return settings, rejected


def _parse_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_str_list(value: object) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return list(value)


def _parse_seats(value: object) -> list[SavedSeat] | None:
    if not isinstance(value, list):
        return None
    seats: list[SavedSeat] = []
    for item in value:
        if isinstance(item, str) and item:  # a bare model id: the default endpoint
            seats.append(SavedSeat(item))
            continue
        if not isinstance(item, dict):
            return None
        model, endpoint = item.get("model"), item.get("endpoint", DEFAULT_ENDPOINT)
        params = _parse_params(item.get("params", {}))
        if not isinstance(model, str) or not model or not isinstance(endpoint, str) or not endpoint:
            return None
        if params is None:
            return None
        seats.append(SavedSeat(model, endpoint, params))
    return seats


def _parse_layout(value: object) -> str | None:
    return value if isinstance(value, str) and value in LAYOUTS else None


def _parse_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _parse_limit(value: object) -> int | None | bool:
    """A concurrency limit: a positive int, or None (unlimited); False when invalid."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return False
    return value


def _parse_positive_number(value: object) -> float | None:
    # bool is an int subclass, but `true` is not a timeout.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _parse_param(value: object) -> ParamValue | None:
    if isinstance(value, bool):
        return None  # not one of the parameter types, though bool is an int
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return _parse_str_list(value)


def _parse_params(value: object) -> dict[str, ParamValue] | None:
    if not isinstance(value, dict):
        return None
    params: dict[str, ParamValue] = {}
    for name, raw in value.items():
        parsed = _parse_param(raw)
        if not isinstance(name, str) or parsed is None:
            return None
        params[name] = parsed
    return params


def _parse_endpoints(value: object) -> list[Endpoint] | None:
    if not isinstance(value, list):
        return None
    endpoints: dict[str, Endpoint] = {}
    for item in value:
        if not isinstance(item, dict):
            return None
        name, base_url = item.get("name"), item.get("base_url")
        if not isinstance(name, str) or not name or not isinstance(base_url, str):
            return None
        endpoint = Endpoint(name, base_url)
        if "max_concurrent" in item:
            limit = _parse_limit(item["max_concurrent"])
            if limit is False:
                return None
            endpoint.max_concurrent = limit
        endpoints.setdefault(name, endpoint)  # first of a name wins
    # The openrouter endpoint is built in: the command line and the default
    # key rely on it, so a file without it gets it back.
    if DEFAULT_ENDPOINT not in endpoints:
        return [*_default_endpoints(), *endpoints.values()]
    return list(endpoints.values())


def _reject_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not allowed in settings")


def _set_aside(path: Path, reason: str) -> None:
    """Rename a damaged settings file so its content survives the next save."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while backup.exists():  # two failures in one second
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    try:
        path.rename(backup)
    except OSError as exc:
        log.warning("Settings file %s is damaged (%s) and could not be set aside: %s",
                    path, reason, exc.strerror)
        return
    log.warning("Settings file %s is damaged (%s); it was renamed to %s", path, reason, backup.name)
