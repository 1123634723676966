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
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from chatroom.core import paths
from chatroom.core.errors import KeyOriginMismatch, KeyringUnavailable
from chatroom.core.origins import origin_of
from chatroom.core.secrets import (
    DEFAULT_ENDPOINT,
    ENV_VAR,
    SERVICE,
    ApiKey,
    ORIGIN_SERVICE,
    KeySource,
    KeyStore,
)
from chatroom.core.settings import Endpoint, Settings, load_settings, save_settings

CANARY = "sk-canary-" + uuid.uuid4().hex
#: Where the keys of these tests are saved for; nothing listens there.
URL = "http://127.0.0.1:9/v1"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
_R = TypeVar("_R")


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

    store.set(endpoint, first, URL)
    assert store.get(endpoint, URL) == ApiKey(first)
    assert keyring.get_password(SERVICE, endpoint) == first  # really in the OS keyring
    assert keyring.get_password(ORIGIN_SERVICE, endpoint) == "http://127.0.0.1:9"
    assert store.source(endpoint) is KeySource.KEYRING

    store.set(endpoint, second, URL)
    assert store.get(endpoint, URL) == ApiKey(second)

    store.delete(endpoint)
    assert store.get(endpoint, URL) is None
    assert store.source(endpoint) is KeySource.NONE
    assert keyring.get_password(SERVICE, endpoint) is None
    assert keyring.get_password(ORIGIN_SERVICE, endpoint) is None


@pytest.mark.keyring
def test_a_fresh_key_store_reads_what_another_stored(endpoint: str) -> None:
    key = canary()
    KeyStore(environ={}).set(endpoint, f"  {key}\n", URL)
    assert KeyStore(environ={}).get(endpoint, URL) == ApiKey(key)


@pytest.mark.keyring
def test_deleting_a_missing_key_on_the_real_keyring_is_not_an_error(endpoint: str) -> None:
    store = KeyStore(environ={})
    store.delete(endpoint)
    assert store.get(endpoint, URL) is None


@pytest.mark.keyring
def test_the_real_keyring_is_reported_available(secret_service: None) -> None:
    assert KeyStore(environ={}).availability() is None


@pytest.mark.keyring
def test_environment_key_wins_over_the_real_keyring_and_is_not_stored(
    secret_service: None,
) -> None:
    key = canary()
    store = KeyStore(environ={ENV_VAR: key})
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) == ApiKey(key)
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
    store.set(endpoint, key, "http://127.0.0.1:9/v1")
    assert store.get(endpoint, "http://127.0.0.1:9/v1") == ApiKey(key)

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
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) == ApiKey(CANARY)
    assert store.source(DEFAULT_ENDPOINT) is KeySource.ENVIRONMENT
    assert CANARY not in memory_keyring.entries.values()


def test_environment_key_needs_no_keyring(no_keyring: KeyringBackend) -> None:
    store = KeyStore(environ={ENV_VAR: CANARY})
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) == ApiKey(CANARY)
    assert store.source(DEFAULT_ENDPOINT) is KeySource.ENVIRONMENT


def test_environment_key_is_for_openrouter_only(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={ENV_VAR: CANARY})
    assert store.get("local", URL) is None
    assert store.source("local") is KeySource.NONE


def test_environment_is_read_at_call_time(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore()
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) is None
    monkeypatch.setenv(ENV_VAR, CANARY)
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) == ApiKey(CANARY)


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_environment_key_falls_back_to_the_keyring(
    memory_keyring: MemoryKeyring, value: str
) -> None:
    memory_keyring.entries[(SERVICE, DEFAULT_ENDPOINT)] = "sk-stored"
    store = KeyStore(environ={ENV_VAR: value})
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) == ApiKey("sk-stored")
    assert store.source() is KeySource.KEYRING


def test_empty_stored_key_counts_as_none(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "local")] = ""
    store = KeyStore(environ={})
    assert store.get("local", URL) is None
    assert store.source("local") is KeySource.NONE


def test_set_strips_surrounding_whitespace(memory_keyring: MemoryKeyring) -> None:
    KeyStore(environ={}).set("local", f"\t{CANARY} \r\n", URL)
    assert memory_keyring.entries == {
        (SERVICE, "local"): CANARY,
        (ORIGIN_SERVICE, "local"): "http://127.0.0.1:9",
    }


@pytest.mark.parametrize(
    "key",
    ["", "  \n", f"{CANARY} {CANARY}", f"{CANARY}\n{CANARY}", f"{CANARY}\x00x", f"{CANARY}\x1b"],
)
def test_set_rejects_a_bad_key_without_quoting_it(memory_keyring: MemoryKeyring, key: str) -> None:
    with pytest.raises(ValueError) as info:
        KeyStore(environ={}).set("local", key, URL)
    assert CANARY not in str(info.value)
    assert not isinstance(info.value, KeyringUnavailable)
    assert memory_keyring.entries == {}


def test_set_rejects_an_empty_endpoint(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(ValueError):
        KeyStore(environ={}).set(" ", CANARY, URL)


def test_delete_forgets_the_key_and_a_missing_key_is_fine(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set("local", CANARY, URL)
    store.delete("local")
    assert store.get("local", URL) is None
    assert memory_keyring.entries == {}
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
        lambda: store.get(DEFAULT_ENDPOINT, OPENROUTER_URL),
        lambda: store.get("local", URL),
        lambda: store.source("local"),
        lambda: store.origin("local", URL),
        lambda: store.set("local", CANARY, URL),
        lambda: store.move("local", URL),
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
            KeyStore(environ={}).set("local", CANARY, URL)
        assert_helpful(info.value, CANARY)
        assert "disabled" in str(info.value)


class EmptyChainer(chainer.ChainerBackend):
    """What keyring's chainer becomes when it finds no backend to chain."""

    backends: list[KeyringBackend] = []


def test_an_empty_chainer_is_not_a_keyring() -> None:
    # An empty chainer's set_password does nothing and returns: the key would be lost.
    with use_backend(EmptyChainer()):
        with pytest.raises(KeyringUnavailable) as info:
            KeyStore(environ={}).set("local", CANARY, URL)
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
            lambda: store.get("local", URL),
            lambda: store.set("local", CANARY, URL),
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
        KeyStore(environ={}).set("local", CANARY, URL)
    assert all(CANARY not in record.getMessage() for record in caplog.records)


# ---------------------------------------------------------------- keys bound to an origin

OTHER_URL = "http://127.0.0.1:10/v1"  # another port of this machine: another server


def test_a_key_is_bound_to_the_origin_it_was_saved_for(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set("gateway", CANARY, "https://gateway.example/api/v1")
    assert memory_keyring.entries[(ORIGIN_SERVICE, "gateway")] == "https://gateway.example"
    assert store.origin("gateway") == "https://gateway.example"
    # Any path on the same origin is the same server.
    for url in ("https://gateway.example/api/v1", "https://GATEWAY.example:443/v2/", "https://gateway.example"):
        assert store.get("gateway", url) == ApiKey(CANARY)


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example/api/v1",
        "http://gateway.example/api/v1",  # the same host in clear
        "https://gateway.example:8443/api/v1",
        "https://api.gateway.example/api/v1",
        "https://gateway.example.other.example/api/v1",
        "https://gateway.example@other.example/api/v1",
        "https://other.example\\@gateway.example/api/v1",
        "http://127.0.0.1:9/v1",  # even this machine, outside --base-url
        "not a url",
    ],
)
def test_a_key_is_refused_for_any_other_origin(memory_keyring: MemoryKeyring, url: str) -> None:
    store = KeyStore(environ={})
    store.set("gateway", CANARY, "https://gateway.example/api/v1")
    with pytest.raises(KeyOriginMismatch) as info:
        store.get("gateway", url)
    error = info.value
    assert error.endpoint == "gateway" and error.saved_origin == "https://gateway.example"
    assert error.origin == origin_of(url) and not error.is_run_override
    message = str(error)
    assert CANARY not in message and "“gateway”" in message and "is not sent" in message
    if error.origin is not None:
        assert "https://gateway.example" in message and error.origin in message
        assert "Settings" in message
    # Refusing changes nothing: the key keeps its origin.
    assert memory_keyring.entries[(ORIGIN_SERVICE, "gateway")] == "https://gateway.example"


def test_saving_again_for_another_url_binds_the_new_key_there(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set("local", "sk-old", URL)
    store.set("local", CANARY, OTHER_URL)
    assert store.get("local", OTHER_URL) == ApiKey(CANARY)
    with pytest.raises(KeyOriginMismatch):
        store.get("local", URL)


@pytest.mark.parametrize("url", ["", "ftp://127.0.0.1/v1", "https://user@gateway.example/v1", "http://:8/v1"])
def test_a_key_cannot_be_saved_for_a_url_without_an_origin(memory_keyring: MemoryKeyring, url: str) -> None:
    with pytest.raises(ValueError, match="valid http\\(s\\) base URL") as info:
        KeyStore(environ={}).set("local", CANARY, url)
    assert CANARY not in str(info.value) and not isinstance(info.value, KeyringUnavailable)
    assert memory_keyring.entries == {}


def test_move_binds_the_stored_key_to_a_new_origin(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set("local", CANARY, URL)
    store.move("local", OTHER_URL)
    assert store.get("local", OTHER_URL) == ApiKey(CANARY)
    with pytest.raises(KeyOriginMismatch):
        store.get("local", URL)  # moved, not copied
    assert memory_keyring.entries[(SERVICE, "local")] == CANARY


def test_move_needs_a_stored_key_and_a_valid_url(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    with pytest.raises(ValueError, match="No key is stored"):
        store.move("local", URL)
    store.set("local", CANARY, URL)
    with pytest.raises(ValueError, match="valid http"):
        store.move("local", "ftp://127.0.0.1/v1")
    assert store.origin("local") == "http://127.0.0.1:9"
    with pytest.raises(ValueError):
        store.move(" ", URL)


def test_delete_forgets_the_origin_too(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set("local", CANARY, URL)
    store.delete("local")
    assert memory_keyring.entries == {}
    assert store.origin("local") is None and store.get("local", URL) is None


# A key saved before keys were bound: only the `chatroom` entry exists.


def test_a_key_saved_before_binding_is_bound_to_its_url_on_first_read(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "local")] = CANARY
    store = KeyStore(environ={})
    assert store.get("local", URL) == ApiKey(CANARY)  # it keeps working where it was used
    assert memory_keyring.entries[(ORIGIN_SERVICE, "local")] == "http://127.0.0.1:9"
    with pytest.raises(KeyOriginMismatch):
        store.get("local", OTHER_URL)  # and from now on only there


def test_origin_binds_an_old_key_to_the_saved_url_only_when_given(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "local")] = CANARY
    store = KeyStore(environ={})
    assert store.origin("local") is None  # unbound, and left so
    assert (ORIGIN_SERVICE, "local") not in memory_keyring.entries
    assert store.origin("local", URL) == "http://127.0.0.1:9"
    assert store.origin("local", OTHER_URL) == "http://127.0.0.1:9"  # bound once, not moved
    assert store.origin("never-stored", URL) is None
    assert (ORIGIN_SERVICE, "never-stored") not in memory_keyring.entries


def test_an_old_key_whose_url_has_no_origin_is_not_sent(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "odd")] = CANARY
    with pytest.raises(KeyOriginMismatch) as info:
        KeyStore(environ={}).get("odd", "https://user@gateway.example/v1")
    assert info.value.saved_origin is None and info.value.origin is None
    assert "not a plain http(s) address" in str(info.value)
    assert (ORIGIN_SERVICE, "odd") not in memory_keyring.entries
    with pytest.raises(KeyOriginMismatch) as unknown:
        KeyStore(environ={}).get("odd", "https://gateway.example/v1", saved_url="ftp://x/")
    assert "not known which address" in str(unknown.value)


# --base-url: `saved_url` is the endpoint's URL in the settings.


def test_with_base_url_an_old_key_is_bound_to_the_saved_url_not_the_override(
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.entries[(SERVICE, DEFAULT_ENDPOINT)] = CANARY
    store = KeyStore(environ={})
    # The test server on this machine: the key still goes there (the --base-url contract)…
    assert store.get(DEFAULT_ENDPOINT, URL, saved_url=OPENROUTER_URL) == ApiKey(CANARY)
    # …but stays bound to OpenRouter: the next run without --base-url works as before.
    assert memory_keyring.entries[(ORIGIN_SERVICE, DEFAULT_ENDPOINT)] == "https://openrouter.ai"
    assert store.get(DEFAULT_ENDPOINT, OPENROUTER_URL) == ApiKey(CANARY)


@pytest.mark.parametrize("override", ["http://127.0.0.1:8099/api/v1", "http://localhost:8099/api/v1",
                                      "http://[::1]:8099/api/v1"])
def test_with_base_url_the_stored_key_goes_to_this_machine(memory_keyring: MemoryKeyring, override: str) -> None:
    store = KeyStore(environ={})
    store.set(DEFAULT_ENDPOINT, CANARY, OPENROUTER_URL)
    assert store.get(DEFAULT_ENDPOINT, override, saved_url=OPENROUTER_URL) == ApiKey(CANARY)
    # Only with --base-url: a saved URL on this machine is bound like any other.
    with pytest.raises(KeyOriginMismatch):
        store.get(DEFAULT_ENDPOINT, override)


def test_with_base_url_the_stored_key_goes_to_its_own_origin(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore(environ={})
    store.set(DEFAULT_ENDPOINT, CANARY, "https://gateway.example/api/v1")
    key = store.get(DEFAULT_ENDPOINT, "https://gateway.example/other/v1", saved_url=OPENROUTER_URL)
    assert key == ApiKey(CANARY)


@pytest.mark.parametrize("override", ["https://gateway.example/api/v1", "http://192.168.1.20:8080/v1",
                                      "http://127.0.0.1.nip.io/v1"])
def test_with_base_url_the_stored_key_goes_to_no_other_host(memory_keyring: MemoryKeyring, override: str) -> None:
    store = KeyStore(environ={})
    store.set(DEFAULT_ENDPOINT, CANARY, OPENROUTER_URL)
    with pytest.raises(KeyOriginMismatch) as info:
        store.get(DEFAULT_ENDPOINT, override, saved_url=OPENROUTER_URL)
    assert info.value.is_run_override
    message = str(info.value)
    assert "--base-url" in message and ENV_VAR in message and "https://openrouter.ai" in message
    assert CANARY not in message


def test_the_environment_key_is_not_bound(no_keyring: KeyringBackend) -> None:
    # Given for one run, it goes wherever that run points, and needs no keyring.
    store = KeyStore(environ={ENV_VAR: CANARY})
    for url in (OPENROUTER_URL, "https://gateway.example/api/v1", URL):
        assert store.get(DEFAULT_ENDPOINT, url) == ApiKey(CANARY)
        assert store.get(DEFAULT_ENDPOINT, url, saved_url=OPENROUTER_URL) == ApiKey(CANARY)


# Keyring failures in the middle of binding.


class OriginRefusingKeyring(MemoryKeyring):
    """Stores keys but fails to record an origin, as a keyring locking mid-way would."""

    def set_password(self, service: str, username: str, password: str) -> None:
        if service == ORIGIN_SERVICE:
            raise keyring.errors.PasswordSetError(password)
        super().set_password(service, username, password)


def test_a_key_whose_origin_cannot_be_recorded_is_not_kept() -> None:
    with use_backend(OriginRefusingKeyring()) as backend:
        assert isinstance(backend, OriginRefusingKeyring)
        with pytest.raises(KeyringUnavailable) as info:
            KeyStore(environ={}).set("local", CANARY, URL)
        assert_helpful(info.value, CANARY)
        assert backend.entries == {}  # no key left behind that the next read would bind anew


def test_an_old_key_that_cannot_be_bound_is_not_sent() -> None:
    with use_backend(OriginRefusingKeyring()) as backend:
        assert isinstance(backend, OriginRefusingKeyring)
        backend.entries[(SERVICE, "local")] = CANARY
        with pytest.raises(KeyringUnavailable):
            KeyStore(environ={}).get("local", URL)


class KeyDeleteRefusingKeyring(MemoryKeyring):
    """Refuses to delete keys (but not origins)."""

    def delete_password(self, service: str, username: str) -> None:
        if service == SERVICE:
            raise keyring.errors.PasswordDeleteError("refused")
        super().delete_password(service, username)


def test_a_key_that_cannot_be_deleted_keeps_its_origin() -> None:
    # Were the origin deleted first, the key left behind would be bound anew to any URL.
    with use_backend(KeyDeleteRefusingKeyring()) as backend:
        assert isinstance(backend, KeyDeleteRefusingKeyring)
        store = KeyStore(environ={})
        store.set("local", CANARY, URL)
        with pytest.raises(KeyringUnavailable):
            store.delete("local")
        assert backend.entries[(ORIGIN_SERVICE, "local")] == "http://127.0.0.1:9"
        with pytest.raises(KeyOriginMismatch):
            store.get("local", OTHER_URL)


# The same through the real Secret Service.


@pytest.fixture
def bound_endpoint(endpoint: str) -> Iterator[str]:
    """`endpoint`, with its origin entry on the real keyring deleted afterwards too."""
    yield endpoint
    if keyring.get_password(ORIGIN_SERVICE, endpoint) is not None:
        keyring.delete_password(ORIGIN_SERVICE, endpoint)


@pytest.mark.keyring
def test_the_real_keyring_keeps_the_origin_beside_the_key(bound_endpoint: str) -> None:
    key = canary()
    store = KeyStore(environ={})
    store.set(bound_endpoint, key, "http://127.0.0.1:9/v1")
    assert keyring.get_password(SERVICE, bound_endpoint) == key  # the key entry holds the key alone
    assert keyring.get_password(ORIGIN_SERVICE, bound_endpoint) == "http://127.0.0.1:9"
    fresh = KeyStore(environ={})
    assert fresh.get(bound_endpoint, "http://127.0.0.1:9/api/v1") == ApiKey(key)
    with pytest.raises(KeyOriginMismatch) as info:
        fresh.get(bound_endpoint, OTHER_URL)
    assert key not in str(info.value)
    fresh.move(bound_endpoint, OTHER_URL)
    assert KeyStore(environ={}).get(bound_endpoint, OTHER_URL) == ApiKey(key)
    fresh.delete(bound_endpoint)
    assert keyring.get_password(ORIGIN_SERVICE, bound_endpoint) is None


@pytest.mark.keyring
def test_a_key_saved_before_binding_on_the_real_keyring_is_bound_on_first_read(bound_endpoint: str) -> None:
    key = canary()
    keyring.set_password(SERVICE, bound_endpoint, key)  # as an earlier Chatroom stored it
    store = KeyStore(environ={})
    assert store.get(bound_endpoint, URL) == ApiKey(key)
    assert keyring.get_password(ORIGIN_SERVICE, bound_endpoint) == "http://127.0.0.1:9"
    with pytest.raises(KeyOriginMismatch):
        KeyStore(environ={}).get(bound_endpoint, OTHER_URL)


# ---------------------------------------------------------------- threads


class SlowOriginKeyring(MemoryKeyring):
    """Recording an origin takes a while, and any call that overlaps another is noted."""

    def __init__(self) -> None:
        super().__init__()
        self.calls_in_flight = 0
        self.overlaps = 0
        self._count = threading.Lock()

    def _call(self, action: Callable[[], _R], slow: bool) -> _R:
        with self._count:
            self.calls_in_flight += 1
            self.overlaps += self.calls_in_flight > 1
        try:
            if slow:
                time.sleep(0.05)
            return action()
        finally:
            with self._count:
                self.calls_in_flight -= 1

    def get_password(self, service: str, username: str) -> str | None:
        return self._call(lambda: super(SlowOriginKeyring, self).get_password(service, username), False)

    def set_password(self, service: str, username: str, password: str) -> None:
        slow = service == ORIGIN_SERVICE
        self._call(lambda: super(SlowOriginKeyring, self).set_password(service, username, password), slow)


def test_a_read_never_sees_a_new_key_with_its_old_origin() -> None:
    # Settings saves a key for a new server while a request to the old one
    # reads the key: between the two writes of set() the keyring holds the new
    # key and the old origin. The read must wait for both, and be refused.
    old, new = "http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"
    with use_backend(SlowOriginKeyring()) as backend:
        assert isinstance(backend, SlowOriginKeyring)
        store = KeyStore(environ={})
        store.set("local", canary(), old)
        new_key = canary()
        writer = threading.Thread(target=store.set, args=("local", new_key, new))
        writer.start()
        while backend.entries.get((SERVICE, "local")) != new_key:  # the key is written, its origin is not yet
            time.sleep(0.001)
        with pytest.raises(KeyOriginMismatch):
            store.get("local", old)
        writer.join()
        assert backend.overlaps == 0  # and no two calls reached the keyring at once
