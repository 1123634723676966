"""API keys: kept in the OS keyring, never in a file, never printed.

This is the only module that reads the keyring or OPENROUTER_API_KEY
(STYLE.md rule 12). A key is stored under service `chatroom` with the endpoint
name as user name. For the `openrouter` endpoint, OPENROUTER_API_KEY, when
set, wins for this run and is never written anywhere.

A stored key is bound to the origin (scheme, host, port; see `origins`) of the
base URL it was saved for, recorded beside it under service
`chatroom-key-origin`, same user name: the origin is no secret, but kept in
the keyring it travels and disappears with the key, and an edited or reset
settings file cannot move it. `get()` hands the key out only for a request to
that origin and raises `KeyOriginMismatch` otherwise, so editing an
endpoint's URL never sends its key to the new host; Settings then asks for a
key for the new address or an explicit `move()`. Two exceptions, both for
one run and chosen on the command line or in the environment:

- OPENROUTER_API_KEY is not bound: it is given for this run and goes to
  wherever the `openrouter` endpoint points in it.
- With --base-url (`saved_url` given), the stored key also goes to a server
  on this machine (the test server, a local gateway): the contract promises
  the key is still used, and such a server runs beside the keyring that holds
  it. To any other host it goes only if that is the origin it was saved for.

A key stored before origins were recorded is bound, on first read, to the
origin of the endpoint's saved URL: existing users keep working unchanged.

When no usable keyring exists, every operation that needs it raises
`KeyringUnavailable` with a message that says how to fix it. There is
deliberately no plaintext fallback: a key silently written to a file is the
leak this module exists to prevent.

Every `KeyStore` method blocks (D-Bus round trips, possibly an unlock
prompt), so the UI calls them through `asyncio.to_thread`. They run one at a
time in the process: `set()` writes the key and then its origin, and a `get()`
between the two would find the new key beside the old origin and hand it to
the old server.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import hmac
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, NoReturn, ParamSpec, TypeVar

from chatroom.core.errors import KeyOriginMismatch, KeyringUnavailable
from chatroom.core.origins import is_loopback_url, origin_of

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENV_VAR",
    "ORIGIN_SERVICE",
    "SERVICE",
    "ApiKey",
    "KeySource",
    "KeyStore",
]

SERVICE: Final = "chatroom"
DEFAULT_ENDPOINT: Final = "openrouter"
ENV_VAR: Final = "OPENROUTER_API_KEY"
#: Where the origin each stored key is bound to is recorded, user name = endpoint.
ORIGIN_SERVICE: Final = "chatroom-key-origin"

log = logging.getLogger(__name__)

# A user name under SERVICE that is never an endpoint's: availability() reads
# it to find out whether the keyring answers at all.
_PROBE_NAME: Final = "chatroom availability probe"

_T = TypeVar("_T")
_P = ParamSpec("_P")

# One keyring operation of any KeyStore at a time (see the module docstring).
# Reentrant: an operation made of others takes it again in the same thread.
_ONE_AT_A_TIME: Final = threading.RLock()


def _serialized(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run `method` while holding the process-wide keyring lock."""

    @functools.wraps(method)
    def serialized(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with _ONE_AT_A_TIME:
            return method(*args, **kwargs)

    return serialized


class ApiKey:
    """A secret API key that never shows itself in a repr, a log or a pickle.

    Only `reveal()` and `auth_header()` give the value out, so a grep for
    them finds every place the key can travel.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("An API key cannot be empty.")
        self._value = value

    def __repr__(self) -> str:  # str() and format() fall back to this
        return "ApiKey(<hidden>)"

    def reveal(self) -> str:
        """The key itself, for the settings dialog's "show" button and for storing."""
        return self._value

    def auth_header(self) -> dict[str, str]:
        """The HTTP header that authenticates a request with this key."""
        return {"Authorization": f"Bearer {self._value}"}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        # Constant-time, so comparing against a guess reveals nothing by timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        # Pickles end up in caches, crash dumps and multiprocessing queues.
        raise TypeError("ApiKey cannot be pickled: it would write the key out.")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        # object.__reduce_ex__ would bypass __reduce__ for protocol >= 2.
        raise TypeError("ApiKey cannot be pickled: it would write the key out.")

    def __copy__(self) -> ApiKey:
        return self  # immutable, and copy.copy would otherwise hit __reduce_ex__

    def __deepcopy__(self, memo: object) -> ApiKey:
        return self


class KeySource(enum.Enum):
    """Where the key an endpoint would use comes from."""

    ENVIRONMENT = "environment"
    KEYRING = "keyring"
    NONE = "none"


class KeyStore:
    """Reads and writes API keys per endpoint in the OS keyring, each bound to an origin.

    Raises `KeyringUnavailable` from every method that needs the keyring when
    no usable one exists or it fails; the message says how to fix it and
    never contains a key.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        """Use `environ` for OPENROUTER_API_KEY; None means os.environ at each call."""
        self._environ = environ

    def __repr__(self) -> str:
        # The environment may hold the key; show nothing of it.
        return "KeyStore()"

    @_serialized
    def get(self, endpoint: str, base_url: str, *, saved_url: str | None = None) -> ApiKey | None:
        """The key to send with requests of `endpoint` to `base_url`; None when it has none.

        For `openrouter`, a non-empty OPENROUTER_API_KEY wins over the keyring
        and the keyring is not touched at all. A stored key is returned only
        for its own origin; for any other, `KeyOriginMismatch` is raised and
        nothing may be sent. `saved_url` is the endpoint's URL in the settings
        when `base_url` is the run's --base-url instead; the key then also
        goes to this machine (see the module docstring).
        """
        from_env = self._environment_key(endpoint)
        if from_env is not None:
            return from_env
        stored = _guarded(lambda backend: backend.get_password(SERVICE, endpoint))
        if not stored:
            return None
        is_override = saved_url is not None
        saved_origin = self._bound_origin(endpoint, base_url if saved_url is None else saved_url)
        origin = origin_of(base_url)
        if origin is not None and origin == saved_origin:
            return ApiKey(stored)
        if origin is not None and is_override and is_loopback_url(base_url):
            return ApiKey(stored)
        raise KeyOriginMismatch(endpoint, saved_origin, origin, is_run_override=is_override)

    @_serialized
    def origin(self, endpoint: str, saved_url: str | None = None) -> str | None:
        """The origin the stored key of `endpoint` is bound to; None when no key is stored.

        A key stored before origins were recorded is bound now to the origin of
        `saved_url`, the endpoint's URL in the settings; without one it stays
        unbound and None is returned. The environment key is not looked at.
        """
        if not _guarded(lambda backend: backend.get_password(SERVICE, endpoint)):
            return None
        if saved_url is None:
            return _guarded(lambda backend: backend.get_password(ORIGIN_SERVICE, endpoint)) or None
        return self._bound_origin(endpoint, saved_url)

    @_serialized
    def source(self, endpoint: str = DEFAULT_ENDPOINT) -> KeySource:
        """Where the key of `endpoint` would come from (whatever origin it is bound to)."""
        if self._environment_key(endpoint) is not None:
            return KeySource.ENVIRONMENT
        stored = _guarded(lambda backend: backend.get_password(SERVICE, endpoint))
        return KeySource.KEYRING if stored else KeySource.NONE

    @_serialized
    def set(self, endpoint: str, key: str, base_url: str) -> None:
        """Store `key` for `endpoint`, bound to the origin of `base_url`, replacing any earlier one.

        Surrounding whitespace (a pasted newline) is stripped. Raises
        ValueError, with a message that does not quote the key, when the key
        is empty or has whitespace or control characters inside, or when
        `base_url` is not a plain http(s) URL.
        """
        _check_endpoint(endpoint)
        origin = _origin_to_bind(base_url)
        key = key.strip()
        if not key:
            raise ValueError("The API key is empty.")
        if any(ch.isspace() or not ch.isprintable() for ch in key):
            raise ValueError("The API key must be one line without spaces.")
        # The key first: should recording its origin fail, the new key is at
        # worst bound to the old key's origin (refused elsewhere), never the
        # old key bound to a new origin.
        _guarded(lambda backend: backend.set_password(SERVICE, endpoint, key))
        try:
            _guarded(lambda backend: backend.set_password(ORIGIN_SERVICE, endpoint, origin))
        except KeyringUnavailable:
            with contextlib.suppress(KeyringUnavailable):
                _guarded(functools.partial(_delete_if_present, SERVICE, endpoint))
            raise

    @_serialized
    def move(self, endpoint: str, base_url: str) -> None:
        """Bind the stored key of `endpoint` to the origin of `base_url` from now on.

        Only for an explicit choice of the user (the same service at a new
        address). Raises ValueError when no key is stored or `base_url` is
        not a plain http(s) URL.
        """
        _check_endpoint(endpoint)
        origin = _origin_to_bind(base_url)
        if not _guarded(lambda backend: backend.get_password(SERVICE, endpoint)):
            raise ValueError(f"No key is stored for “{endpoint}”.")
        _guarded(lambda backend: backend.set_password(ORIGIN_SERVICE, endpoint, origin))

    @_serialized
    def delete(self, endpoint: str) -> None:
        """Forget the stored key of `endpoint` and its origin; nothing happens if there is none."""
        _check_endpoint(endpoint)
        # The key first: a key left without its origin would be bound anew on
        # its next read, an origin left without a key binds nothing.
        _guarded(functools.partial(_delete_if_present, SERVICE, endpoint))
        _guarded(functools.partial(_delete_if_present, ORIGIN_SERVICE, endpoint))

    @_serialized
    def availability(self) -> str | None:
        """None when the keyring works, else a message telling the user how to fix it.

        This reads one entry, so a locked keyring may show its unlock prompt.
        """
        try:
            _guarded(lambda backend: backend.get_password(SERVICE, _PROBE_NAME))
        except KeyringUnavailable as exc:
            return str(exc)
        return None

    def _bound_origin(self, endpoint: str, saved_url: str) -> str | None:
        """The origin the stored key is bound to; binds an unbound one to `saved_url`'s.

        None when the key is unbound and `saved_url` has no origin either.
        """
        recorded = _guarded(lambda backend: backend.get_password(ORIGIN_SERVICE, endpoint))
        if recorded:
            return recorded
        origin = origin_of(saved_url)
        if origin is None:
            return None
        # A key saved before keys were bound: it was being sent to this URL.
        _guarded(lambda backend: backend.set_password(ORIGIN_SERVICE, endpoint, origin))
        log.info("the stored key of %s is now bound to %s", endpoint, origin)
        return origin

    def _environment_key(self, endpoint: str) -> ApiKey | None:
        if endpoint != DEFAULT_ENDPOINT:
            return None
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(ENV_VAR, "").strip()
        return ApiKey(value) if value else None


def _origin_to_bind(base_url: str) -> str:
    origin = origin_of(base_url)
    if origin is None:
        raise ValueError(
            "Enter a valid http(s) base URL first: a key is saved for one server's address."
        )
    return origin


def _delete_if_present(service: str, user: str, backend: KeyringBackend) -> None:
    # Backends signal "no such entry" with PasswordDeleteError, the same type
    # as a real failure; looking first tells the two apart.
    if backend.get_password(service, user) is not None:
        backend.delete_password(service, user)


def _check_endpoint(endpoint: str) -> None:
    if not endpoint.strip():
        raise ValueError("The endpoint name is empty.")


def _guarded(action: Callable[[KeyringBackend], _T]) -> _T:
    """Run `action` on the active backend, turning every failure into KeyringUnavailable."""
    # keyring (about 50 ms to import) is loaded on first use, after the window paints.
    import keyring

    backend = keyring.get_keyring()
    missing = _why_unusable(backend)
    if missing is not None:
        raise KeyringUnavailable(_unavailable_message(missing))
    try:
        return action(backend)
    except Exception as exc:
        # Backends are platform plugins that raise their own types besides
        # KeyringError (secretstorage, jeepney, OSError from a dead socket),
        # and the contract is that every backend problem reaches the user as
        # KeyringUnavailable. Only the backend call sits in this try.
        reason = _describe_failure(exc)
    # Raised outside the except block so the new error has no __context__:
    # the backend's exception, and whatever it quotes, goes nowhere.
    raise KeyringUnavailable(_unavailable_message(reason))


def _why_unusable(backend: KeyringBackend) -> str | None:
    """Why this backend cannot keep a key, or None when it can."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring):
        return "no keyring backend was found"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled"
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        # An empty chainer silently drops keys it is asked to store.
        return "no keyring backend was found"
    return None


def _describe_failure(exc: Exception) -> str:
    """A short reason built from the exception's type only, never its text.

    The text of a backend error could quote what it was asked to store.
    """
    import keyring.errors

    if isinstance(exc, keyring.errors.NoKeyringError):
        return "no keyring backend was found"
    if isinstance(exc, keyring.errors.KeyringLocked):
        return "the keyring is locked or the unlock prompt was dismissed"
    if isinstance(exc, keyring.errors.InitError):
        return "the keyring could not be opened"
    if isinstance(exc, keyring.errors.PasswordSetError):
        return "the keyring refused to store the key"
    if isinstance(exc, keyring.errors.PasswordDeleteError):
        return "the keyring refused to delete the key"
    return f"the keyring failed: {type(exc).__name__}"


def _unavailable_message(reason: str) -> str:
    return (
        f"No system keyring is available ({reason}). "
        "Install and unlock a keyring such as GNOME Keyring or KWallet, "
        f"or set {ENV_VAR} for this run."
    )
