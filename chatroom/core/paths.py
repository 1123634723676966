"""Where Chatroom keeps its files, per platform conventions.

Each directory is `<platform dir>/chatroom`, found by platformdirs, which on
Linux honours XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_CACHE_HOME and
XDG_STATE_HOME. Every function reads the environment when called (nothing is
cached), so tests can point them at a temporary directory with monkeypatch.
Nothing here creates a directory: writers do that (see `atomicfile`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import platformdirs

__all__ = [
    "APP_NAME",
    "cache_dir",
    "config_dir",
    "data_dir",
    "database_path",
    "models_cache_path",
    "settings_path",
    "state_dir",
]

APP_NAME: Final = "chatroom"


def config_dir() -> Path:
    """The directory for settings (no secrets: those live in the keyring)."""
    # appauthor=False keeps Windows from adding a vendor level: %APPDATA%\chatroom.
    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    """The directory for the conversation database."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def cache_dir() -> Path:
    """The directory for files that can be fetched again, like the model catalogue."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def state_dir() -> Path:
    """The directory for state worth keeping but not worth backing up (logs)."""
    return platformdirs.user_state_path(APP_NAME, appauthor=False)


def settings_path() -> Path:
    """The settings file: `<config dir>/chatroom/settings.json`."""
    return config_dir() / "settings.json"


def database_path() -> Path:
    """The conversation store: `<data dir>/chatroom/chatroom.sqlite3`."""
    return data_dir() / "chatroom.sqlite3"


def models_cache_path() -> Path:
    """The cached model catalogue: `<cache dir>/chatroom/models.json`."""
    return cache_dir() / "models.json"
