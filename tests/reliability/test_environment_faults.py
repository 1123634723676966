"""Faults around the app: no usable keyring, an endpoint that is down when the app starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat import properties
from PySide6.QtWidgets import QLabel, QListWidget, QWidget
from pytestqt.qtbot import QtBot

from chatroom.core import paths
from chatroom.core.catalog import Catalog, CatalogCache, parse_models
from chatroom.core.room import ReplyState
from chatroom.core.secrets import ENV_VAR, KeyStore
from chatroom.core.settings import Endpoint, Settings
from chatroom.ui.main_window import MainWindow
from chatroom.ui.model_picker import ModelPicker
from chatroom.ui.settings_dialog import SettingsDialog
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import default_models
from tests.reliability.harness import (
    TIMEOUT_MS,
    assert_saved_as_shown,
    close_and_save,
    free_port,
    run_turn,
    seat,
)
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import send, wait_idle


class LockedKeyring(KeyringBackend):
    """A keyring whose unlock prompt the user dismissed: every call raises KeyringLocked."""

    @properties.classproperty
    def priority(cls) -> float:
        # Never picked by keyring's own backend detection in this process.
        raise RuntimeError("only for tests")

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


@pytest.fixture(params=["missing", "locked"])
def broken_keyring(request: pytest.FixtureRequest) -> Iterator[str]:
    """No keyring backend at all, or a locked one; yields the reason the app should give."""
    previous = keyring.get_keyring()
    if request.param == "missing":
        keyring.set_keyring(fail.Keyring())
        yield "no keyring backend was found"
    else:
        keyring.set_keyring(LockedKeyring())
        yield "the keyring is locked"
    keyring.set_keyring(previous)


def named(parent: QWidget, kind: type[QLabel] | type[QListWidget], name: str) -> QWidget:
    found = [w for w in parent.findChildren(kind) if w.accessibleName() == name]
    assert len(found) == 1, f"{len(found)} {kind.__name__} named {name!r}"
    return found[0]


def key_status_of(qtbot: QtBot, window: MainWindow, keys: KeyStore, endpoint_row: int) -> str:
    """Open Settings (the dialog the window opens) on one endpoint; its key status once checked."""
    dialog = SettingsDialog(window.settings, keys, window.session.run_job, window)
    qtbot.addWidget(dialog)
    dialog.show()
    endpoints = named(dialog, QListWidget, "Endpoints")
    assert isinstance(endpoints, QListWidget)
    endpoints.setCurrentRow(endpoint_row)
    status = named(dialog, QLabel, "Key status")
    assert isinstance(status, QLabel)
    qtbot.waitUntil(lambda: status.text() not in ("", "Checking the keyring…"), timeout=TIMEOUT_MS)
    text = status.text()
    dialog.reject()
    return text


def test_without_a_usable_keyring_settings_says_why_and_the_environment_key_works(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path, broken_keyring: str,
) -> None:
    db = tmp_path / "h.sqlite3"
    keys = KeyStore(environ={ENV_VAR: TEST_KEY})
    with FakeOpenRouter() as local:  # a server on this machine needs no key, so none is read
        settings = Settings(endpoints=[Endpoint("openrouter", fake_server.base_url, None),
                                       Endpoint("local", local.local_base_url, None)])  # fmt: skip
        window, _ = run_turn(
            qtbot, make_window, db, ["fake/echo"], "through the environment",
            more_seats=[("fake/lorem", "local")], settings=settings, keys=keys,
        )  # fmt: skip
        assert window.pane_for("fake/echo").reply_text() == "through the environment"
        assert window.pane_for("fake/lorem").state is ReplyState.DONE
        assert fake_server.chat_requests()[-1].headers["authorization"] == f"Bearer {TEST_KEY}"

        assert key_status_of(qtbot, window, keys, 0) == f"Using {ENV_VAR} from the environment (not stored)."
        local_status = key_status_of(qtbot, window, keys, 1)
        assert local_status.startswith("No system keyring is available")
        assert broken_keyring in local_status  # why
        assert "Install and unlock a keyring" in local_status and ENV_VAR in local_status  # how to fix
        close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)


@pytest.fixture
def cached_local_catalogue() -> list[str]:
    """A catalogue of `local` cached two days ago (so stale: the app fetches it again)."""
    entries = [m for m in default_models() if m["id"] in ("fake/echo", "fake/lorem")]
    models = parse_models("local", entries)
    CatalogCache(paths.models_cache_path()).save({"local": Catalog("local", models, time.time() - 2 * 86400)})
    return [m.id for m in models]


def local_catalogue_failed(window: MainWindow) -> bool:
    catalog = window.session.catalogs.get("local")
    return catalog is not None and catalog.error is not None


def picker_notes_and_models(qtbot: QtBot, window: MainWindow, endpoint: str) -> list[str]:
    """What the model picker lists under `endpoint`: its note, if any, then its models."""
    picker = ModelPicker(window.session.catalogs, window)
    qtbot.addWidget(picker)
    proxy = picker.view().model()
    groups = [proxy.index(row, 0) for row in range(proxy.rowCount())]
    group = next(g for g in groups if str(g.data()).startswith(endpoint))
    return [str(proxy.index(row, 0, group).data()) for row in range(proxy.rowCount(group))]


def test_an_endpoint_down_at_start_is_worked_from_the_cached_catalogue(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter,
    qt_loop: asyncio.AbstractEventLoop, tmp_path: Path, cached_local_catalogue: list[str],
) -> None:
    port = free_port()  # the local server is not running yet
    db = tmp_path / "h.sqlite3"
    settings = Settings(endpoints=[Endpoint("openrouter", fake_server.base_url, None),
                                   Endpoint("local", f"http://127.0.0.1:{port}/v1", None)])  # fmt: skip
    window = make_window(["fake/echo"], settings=settings, history_path=db)
    seat(qtbot, window, "fake/lorem", "local")
    qtbot.waitUntil(lambda: local_catalogue_failed(window), timeout=TIMEOUT_MS)
    catalog = window.session.catalogs["local"]
    assert [m.id for m in catalog.models] == cached_local_catalogue  # kept, not emptied
    assert catalog.error is not None and catalog.error.startswith(f"Cannot reach 127.0.0.1:{port}")
    listed = picker_notes_and_models(qtbot, window, "local")
    assert listed[1:] == cached_local_catalogue  # the picker offers the cached models
    assert "cached" in listed[0].lower() and "No catalogue" not in listed[0]  # and says so,
    assert f"Cannot reach 127.0.0.1:{port}" in listed[0]  # and why they may be old
    assert not window.pane_for("fake/lorem").catalogue_label.isVisible()  # known from the cache

    with FakeOpenRouter(port=port):  # the server comes up: the same window just works
        send(qtbot, window, "are you up now")
        wait_idle(qtbot, window)
        assert window.pane_for("fake/lorem").state is ReplyState.DONE
        assert window.pane_for("fake/echo").reply_text() == "are you up now"
        close_and_save(qtbot, qt_loop, window)
    assert_saved_as_shown(db, window)
