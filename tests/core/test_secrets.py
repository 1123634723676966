"""Tests for chatroom.core.secrets: ApiKey hygiene, KeyStore rules, keyring failures.

Tests marked `keyring` talk to the real Secret Service. Run them with

    bash tests/keyring_session.sh python -m pytest tests/core/test_secrets.py

They skip when no Secret Service is reachable, unless CHATROOM_REQUIRE_KEYRING=1
(CI sets it), in which case they fail: a CI that silently skipped them would
prove nothing about the keyring.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from chatroom.core import paths
from chatroom.core.errors import KeyringUnavailable
from chatroom.core.secrets import (
    DEFAULT_ENDPOINT,
    ENV_VAR,
    SERVICE,
    ApiKey,
    KeySource,
    KeyStore,
)
from chatroom.core.settings import Endpoint, Settings, load_settings, save_settings

CANARY = "sk-canary-" + uuid.uuid4().hex


def canary() -> str:
    """A fresh key per call, so one test's leftovers cannot satisfy another."""
    return f"sk-canary-{uuid.uuid4().hex}"


# ---------------------------------------------------------------- test backends


class MemoryKeyring(KeyringBackend):
    """An in-process keyring, for the rules that do not depend on the OS one."""

    # Negative, so keyring's own backend discovery never picks this class.
    priority = -10.0

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise keyring.errors.PasswordDeleteError("No such password!")
        del self.entries[(service, username)]


class RaisingKeyring(KeyringBackend):
    """A keyring whose every call raises `error`, whose text quotes the key."""

    priority = -10.0  # see MemoryKeyring

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


@contextlib.contextmanager
def use_backend(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Make `backend` keyring's active one for a while, then restore the previous."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with use_backend(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[KeyringBackend]:
    """The backend keyring selects when it finds nothing: every call raises NoKeyringError."""
    # keyring leaves the constructors unannotated.
    with use_backend(fail.Keyring()) as backend:
        yield backend


# ---------------------------------------------------------------- real keyring

REQUIRE_KEYRING = os.environ.get("CHATROOM_REQUIRE_KEYRING") == "1"


def secret_service_problem() -> str | None:
    """Why the real keyring cannot be tested here, or None when it can."""
    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    empty_chain = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    if isinstance(backend, fail.Keyring | null.Keyring) or empty_chain:
        return (
            f"no Secret Service reachable (keyring chose {name}); "
            "run under tests/keyring_session.sh"
        )
    probe = f"test-probe-{uuid.uuid4().hex}"
    try:
        backend.set_password(SERVICE, probe, "probe")
        backend.delete_password(SERVICE, probe)
    except Exception as exc:  # any failure means: not testable here
        return f"the keyring backend {name} failed a probe: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def secret_service() -> None:
    """Skip, or fail under CHATROOM_REQUIRE_KEYRING=1, when no real keyring answers."""
    problem = secret_service_problem()
    if problem is None:
        return
    if REQUIRE_KEYRING:
        pytest.fail(f"CHATROOM_REQUIRE_KEYRING=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def endpoint(secret_service: None) -> Iterator[str]:
    """A unique endpoint name on the real keyring, deleted afterwards whatever happens."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    # Straight through keyring, so a KeyStore bug cannot leave entries behind.
    if keyring.get_password(SERVICE, name) is not None:
        keyring.delete_password(SERVICE, name)


@pytest.fixture
def xdg_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    return tmp_path


@pytest.mark.keyring
def test_store_read_replace_and_delete_through_the_real_keyring(endpoint: str) -> None:
    store = KeyStore(environ={})
    first, second = canary(), canary()

    store.set(endpoint, first)
    assert store.get(endpoint) == ApiKey(first)
    assert keyring.get_password(SERVICE, endpoint) == first  # really in the OS keyring
    assert store.source(endpoint) is KeySource.KEYRING

    store.set(endpoint, second)
    assert store.get(endpoint) == ApiKey(second)

    store.delete(endpoint)
    assert store.get(endpoint) is None
    assert store.source(endpoint) is KeySource.NONE
    assert keyring.get_password(SERVICE, endpoint) is None


@pytest.mark.keyring
def test_a_fresh_key_store_reads_what_another_stored(endpoint: str) -> None:
    key = canary()
    KeyStore(environ={}).set(endpoint, f"  {key}\n")
    assert KeyStore(environ={}).get(endpoint) == ApiKey(key)


@pytest.mark.keyring
def test_deleting_a_missing_key_on_the_real_keyring_is_not_an_error(endpoint: str) -> None:
    store = KeyStore(environ={})
    store.delete(endpoint)
    assert store.get(endpoint) is None


@pytest.mark.keyring
def test_the_real_keyring_is_reported_available(secret_service: None) -> None:
    assert KeyStore(environ={}).availability() is None


@pytest.mark.keyring
def test_environment_key_wins_over_the_real_keyring_and_is_not_stored(
    secret_service: None,
) -> None:
    key = canary()
    store = KeyStore(environ={ENV_VAR: key})
    assert store.get() == ApiKey(key)
    assert store.source(DEFAULT_ENDPOINT) is KeySource.ENVIRONMENT
    # Read-only on the real entry: a developer's own openrouter key stays untouched.
    assert keyring.get_password(SERVICE, DEFAULT_ENDPOINT) != key


@pytest.mark.keyring
def test_the_key_reaches_no_log_record_and_no_file(
    endpoint: str, xdg_dirs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = canary()
    store = KeyStore(environ={})
    store.set(endpoint, key)
    assert store.get(endpoint) == ApiKey(key)

    settings = Settings()
    settings.endpoints.append(Endpoint(endpoint, "http://127.0.0.1:9/v1"))
    settings.remember_model("fake/echo")
    save_settings(paths.settings_path(), settings)
    assert load_settings(paths.settings_path()).endpoint(endpoint).base_url == "http://127.0.0.1:9/v1"

    files = [p for p in xdg_dirs.rglob("*") if p.is_file()]
    assert paths.settings_path() in files
    for file in files:
        assert key.encode() not in file.read_bytes(), file
    for record in caplog.records:
        assert key not in record.getMessage()
        assert key not in repr(record.args)


# ---------------------------------------------------------------- ApiKey


def test_api_key_never_shows_its_value() -> None:
    key = ApiKey(CANARY)
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert CANARY not in text
        assert text.count("ApiKey(<hidden>)") == 1


def test_api_key_reveals_and_authenticates_on_request() -> None:
    key = ApiKey(CANARY)
    assert key.reveal() == CANARY
    assert key.auth_header() == {"Authorization": f"Bearer {CANARY}"}


def test_api_keys_compare_and_hash_by_value() -> None:
    assert ApiKey("sk-a") == ApiKey("sk-a")
    assert ApiKey("sk-a") != ApiKey("sk-b")
    assert ApiKey("sk-a") != "sk-a"
    assert len({ApiKey("sk-a"), ApiKey("sk-a"), ApiKey("sk-b")}) == 2


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_api_key_refuses_to_be_pickled(protocol: int) -> None:
    with pytest.raises(TypeError, match="cannot be pickled") as info:
        pickle.dumps(ApiKey(CANARY), protocol=protocol)
    assert CANARY not in str(info.value)


def test_api_key_copies_are_itself() -> None:
    key = ApiKey(CANARY)
    assert copy.copy(key) is key
    assert copy.deepcopy({"key": key})["key"] is key


def test_api_key_cannot_be_empty() -> None:
    with pytest.raises(ValueError):
        ApiKey("")


# ---------------------------------------------------------------- KeyStore rules


def test_key_store_repr_hides_the_environment() -> None:
    store = KeyStore(environ={ENV_VAR: CANARY})
    assert CANARY not in repr(store)
    assert CANARY not in str(store)


def test_environment_key_wins_and_is_not_stored(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={ENV_VAR: f" {CANARY}\n"})
    memory_keyring.entries[(SERVICE, DEFAULT_ENDPOINT)] = "sk-from-keyring"
    assert store.get() == ApiKey(CANARY)
    assert store.get(DEFAULT_ENDPOINT) == ApiKey(CANARY)
    assert store.source(DEFAULT_ENDPOINT) is KeySource.ENVIRONMENT
    assert CANARY not in memory_keyring.entries.values()


def test_environment_key_needs_no_keyring(no_keyring: KeyringBackend) -> None:
    store = KeyStore(environ={ENV_VAR: CANARY})
    assert store.get() == ApiKey(CANARY)
    assert store.source(DEFAULT_ENDPOINT) is KeySource.ENVIRONMENT


def test_environment_key_is_for_openrouter_only(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={ENV_VAR: CANARY})
    assert store.get("local") is None
    assert store.source("local") is KeySource.NONE


def test_environment_is_read_at_call_time(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore()
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert store.get() is None
    monkeypatch.setenv(ENV_VAR, CANARY)
    assert store.get() == ApiKey(CANARY)


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_environment_key_falls_back_to_the_keyring(
    memory_keyring: MemoryKeyring, value: str
) -> None:
    memory_keyring.entries[(SERVICE, DEFAULT_ENDPOINT)] = "sk-stored"
    store = KeyStore(environ={ENV_VAR: value})
    assert store.get() == ApiKey("sk-stored")
    assert store.source() is KeySource.KEYRING


def test_empty_stored_key_counts_as_none(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "local")] = ""
    store = KeyStore(environ={})
    assert store.get("local") is None
    assert store.source("local") is KeySource.NONE


def test_set_strips_surrounding_whitespace(memory_keyring: MemoryKeyring) -> None:
    KeyStore(environ={}).set("local", f"\t{CANARY} \r\n")
    assert memory_keyring.entries == {(SERVICE, "local"): CANARY}


@pytest.mark.parametrize(
    "key",
    ["", "  \n", f"{CANARY} {CANARY}", f"{CANARY}\n{CANARY}", f"{CANARY}\x00x", f"{CANARY}\x1b"],
)
def test_set_rejects_a_bad_key_without_quoting_it(memory_keyring: MemoryKeyring, key: str) -> None:
    with pytest.raises(ValueError) as info:
        KeyStore(environ={}).set("local", key)
    assert CANARY not in str(info.value)
    assert not isinstance(info.value, KeyringUnavailable)
    assert memory_keyring.entries == {}


def test_set_rejects_an_empty_endpoint(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(ValueError):
        KeyStore(environ={}).set(" ", CANARY)


def test_delete_forgets_the_key_and_a_missing_key_is_fine(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set("local", CANARY)
    store.delete("local")
    assert store.get("local") is None
    store.delete("local")
    store.delete("never-stored")


# ---------------------------------------------------------------- no usable keyring


def assert_helpful(error: KeyringUnavailable, *secrets: str) -> None:
    message = str(error)
    assert message.startswith("No system keyring is available (")
    assert "GNOME Keyring or KWallet" in message
    assert ENV_VAR in message
    for secret in secrets:
        assert secret not in message
    # Nothing chained: the backend's exception (which may quote the key) is gone.
    assert error.__cause__ is None
    assert error.__context__ is None


def test_no_keyring_makes_every_operation_raise_a_helpful_error(
    no_keyring: KeyringBackend,
) -> None:
    store = KeyStore(environ={})
    operations: list[Callable[[], object]] = [
        lambda: store.get(),
        lambda: store.get("local"),
        lambda: store.source("local"),
        lambda: store.set("local", CANARY),
        lambda: store.delete("local"),
    ]
    for operation in operations:
        with pytest.raises(KeyringUnavailable) as info:
            operation()
        assert_helpful(info.value, CANARY)


def test_availability_explains_how_to_fix_a_missing_keyring(no_keyring: KeyringBackend) -> None:
    message = KeyStore(environ={}).availability()
    assert message is not None
    assert message.startswith("No system keyring is available (no keyring backend was found)")
    assert ENV_VAR in message


def test_availability_is_none_with_a_working_keyring(memory_keyring: MemoryKeyring) -> None:
    assert KeyStore(environ={}).availability() is None


def test_the_null_backend_is_not_a_keyring() -> None:
    # null.Keyring accepts keys and silently drops them: storing there would lose them.
    with use_backend(null.Keyring()):
        with pytest.raises(KeyringUnavailable) as info:
            KeyStore(environ={}).set("local", CANARY)
        assert_helpful(info.value, CANARY)
        assert "disabled" in str(info.value)


class EmptyChainer(chainer.ChainerBackend):
    """What keyring's chainer becomes when it finds no backend to chain."""

    backends: list[KeyringBackend] = []


def test_an_empty_chainer_is_not_a_keyring() -> None:
    # An empty chainer's set_password does nothing and returns: the key would be lost.
    with use_backend(EmptyChainer()):
        with pytest.raises(KeyringUnavailable) as info:
            KeyStore(environ={}).set("local", CANARY)
        assert_helpful(info.value, CANARY)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (keyring.errors.NoKeyringError(CANARY), "no keyring backend was found"),
        (keyring.errors.KeyringLocked(CANARY), "locked"),
        (keyring.errors.InitError(CANARY), "could not be opened"),
        (keyring.errors.PasswordSetError(CANARY), "refused to store"),
        (keyring.errors.PasswordDeleteError(CANARY), "refused to delete"),
        (keyring.errors.KeyringError(CANARY), "KeyringError"),
        (OSError(f"socket closed while sending {CANARY}"), "OSError"),
    ],
)
def test_backend_errors_become_keyring_unavailable_without_the_key(
    error: Exception, reason: str
) -> None:
    store = KeyStore(environ={})
    with use_backend(RaisingKeyring(error)):
        operations: list[Callable[[], object]] = [
            lambda: store.get("local"),
            lambda: store.set("local", CANARY),
        ]
        for operation in operations:
            with pytest.raises(KeyringUnavailable) as info:
                operation()
            assert_helpful(info.value, CANARY)
            assert reason in str(info.value)
        assert store.availability() is not None


def test_failures_log_nothing_with_the_key(
    no_keyring: KeyringBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KeyringUnavailable):
        KeyStore(environ={}).set("local", CANARY)
    assert all(CANARY not in record.getMessage() for record in caplog.records)
