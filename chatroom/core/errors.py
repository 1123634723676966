"""Every error Chatroom raises on purpose.

The messages are written for the user: they say what happened and what to do,
and never contain an API key.

ChatroomError
  ApiError(status, code, message)   an error body from the server (HTTP or in-stream)
    Redirected            3xx: the endpoint moved; redirects are never followed
    BadRequest            400, 413, 422: the request was refused as it stands
      ContextTooLong      400 with error_type context_length_exceeded
    AuthError             401: the key was rejected or is missing
    InsufficientCredits   402
    Forbidden             403: permission, guardrail or moderation (reasons in metadata)
    ModelNotFound         404
    RequestTimeout        408 (retryable)
    Conflict              409 (retryable)
    RateLimited           429 (retryable); retry_after_s from Retry-After
    ServerError           500 and other 5xx (retryable)
      ModelUnavailable    502, 503, 529: the model or its providers are down (retryable)
  NetworkError            connect, DNS, TLS: the server could not be reached
    ReadTimeout           no bytes for longer than the read timeout
  StreamInterrupted       the stream ended with neither [DONE] nor a finish reason
  MalformedResponse       the server sent something that is not the protocol
  ParameterError          a sampling parameter out of range or unknown
  KeyringUnavailable      no usable OS keyring
  KeyOriginMismatch       the stored key was saved for another server: it is not sent
  SettingsError           settings could not be read or written
  StoreError              history could not be read or written
    DamagedStore          the history file is not a readable database
  ReplyStateError         an illegal reply state transition: a bug
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ApiError",
    "AuthError",
    "BadRequest",
    "ChatroomError",
    "Conflict",
    "ContextTooLong",
    "DamagedStore",
    "Forbidden",
    "InsufficientCredits",
    "KeyOriginMismatch",
    "KeyringUnavailable",
    "MalformedResponse",
    "ModelNotFound",
    "ModelUnavailable",
    "NetworkError",
    "ParameterError",
    "RateLimited",
    "ReadTimeout",
    "Redirected",
    "ReplyStateError",
    "RequestTimeout",
    "ServerError",
    "SettingsError",
    "StoreError",
    "StreamInterrupted",
]

JsonObject = Mapping[str, object]


def _sentence(message: str) -> str:
    """The server's message ending as a sentence, so that a hint can follow it."""
    message = message.rstrip()
    return message if not message or message.endswith((".", "!", "?", ":")) else f"{message}."


class ChatroomError(Exception):
    """Base of every error Chatroom raises on purpose; str() is the user message."""

    #: Whether sending the same request again may succeed (only before the first token).
    is_retryable: bool = False


class ApiError(ChatroomError):
    """The server answered with an error body, before or during the stream.

    The user reads the server's message, prefixed with what the status means.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int | str | None = None,
        metadata: JsonObject | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.status = status
        self.code = code if code is not None else status
        self.message = message
        self.metadata: JsonObject = metadata or {}
        #: The server's Retry-After hint in seconds, when it sent one.
        self.retry_after_s = retry_after_s
        super().__init__(self._describe())

    def _describe(self) -> str:
        return f"The server answered {self.status}: {self.message}"


class Redirected(ApiError):
    """3xx: the endpoint answered with a redirect, which is never followed (the key would go along)."""

    def _describe(self) -> str:
        return (
            f"The endpoint redirected ({self.status}) to {self.message}. Chatroom does not follow "
            "redirects, so the key is not sent there: if that address is right, make it the "
            "base URL in Settings."
        )


class BadRequest(ApiError):
    """400, 413 or 422: the request was refused; sending it again will not help."""

    def _describe(self) -> str:
        return f"The request was refused ({self.status}): {self.message}"


class ContextTooLong(BadRequest):
    """The conversation is longer than the model's context window."""

    def _describe(self) -> str:
        return (
            f"The conversation is too long for this model: {_sentence(self.message)} "
            "Start a new room or remove seats with long replies."
        )


class AuthError(ApiError):
    """401: the key is invalid, disabled or missing. Not retried."""

    def _describe(self) -> str:
        return (
            f"The key was rejected ({self.message}). "
            "Check the API key in Settings (Ctrl+,)."
        )


class InsufficientCredits(ApiError):
    """402: the account or the key has no credit left. Not retried."""

    def _describe(self) -> str:
        return (
            f"Insufficient credits: {_sentence(self.message)} "
            "Add credits to the account or lower max_tokens."
        )


class Forbidden(ApiError):
    """403: missing permission, a guardrail, or moderation flagged the input."""

    def _describe(self) -> str:
        reasons = self.metadata.get("reasons")
        if isinstance(reasons, list) and reasons:
            provider = self.metadata.get("provider_name")
            by = f" by {provider}" if isinstance(provider, str) else ""
            joined = ", ".join(str(r) for r in reasons)
            return f"The prompt was flagged{by} ({joined}): {self.message}"
        return f"Forbidden: {self.message}"


class ModelNotFound(ApiError):
    """404: the model id does not exist on this endpoint, or was retired."""

    def _describe(self) -> str:
        return f"Model not found: {_sentence(self.message)} Check the model id."


class RequestTimeout(ApiError):
    """408: the server gave up waiting. Retried before the first token."""

    is_retryable = True


class Conflict(ApiError):
    """409: the request clashed with another in flight. Retried before the first token."""

    is_retryable = True


class RateLimited(ApiError):
    """429: too many requests. Retried before the first token, after retry_after_s."""

    is_retryable = True

    def _describe(self) -> str:
        return f"Rate limited: {_sentence(self.message)} Wait a moment and retry."


class ServerError(ApiError):
    """500 and other 5xx: the server failed. Retried before the first token."""

    is_retryable = True

    def _describe(self) -> str:
        return f"The server failed ({self.status}): {self.message}"


class ModelUnavailable(ServerError):
    """502, 503, 529: the model or every provider for it is down or overloaded."""

    def _describe(self) -> str:
        provider = self.metadata.get("provider_name")
        by = f" ({provider})" if isinstance(provider, str) else ""
        return f"The model is unavailable{by}: {self.message}"


class NetworkError(ChatroomError):
    """The server could not be reached: connection refused, DNS or TLS failure."""

    is_retryable = True


class ReadTimeout(NetworkError):
    """No bytes arrived for longer than the read timeout."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(
            f"No data for {timeout_s:g} s: the server stopped sending. "
            "The read timeout can be changed in Settings."
        )


class StreamInterrupted(ChatroomError):
    """The stream ended with neither [DONE] nor a finish reason: the reply is incomplete."""

    def __init__(self, message: str = "The connection closed before the reply was complete.") -> None:
        super().__init__(message)


class MalformedResponse(ChatroomError):
    """The server sent something that is not the protocol (e.g. broken JSON in a chunk)."""


class ParameterError(ChatroomError, ValueError):
    """A sampling parameter is unknown or out of its documented range."""


class KeyringUnavailable(ChatroomError):
    """No usable OS keyring: the message says how to fix it."""


class KeyOriginMismatch(ChatroomError):
    """A request would take a stored key to a server other than the one it was saved for.

    Raised before anything is sent. `saved_origin` is where the key may go
    (None when that cannot be told), `origin` where the request was headed
    (None when its URL is not a plain http(s) URL). `is_run_override` says the
    address came from --base-url, which Settings cannot change. The user reads
    both addresses and what to do; never the key.
    """

    def __init__(
        self, endpoint: str, saved_origin: str | None, origin: str | None, *,
        is_run_override: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.saved_origin = saved_origin
        self.origin = origin
        self.is_run_override = is_run_override
        super().__init__(self._describe())

    def _describe(self) -> str:
        stored = f"The API key stored for “{self.endpoint}”"
        if self.origin is None:
            return f"{stored} is not sent: the base URL is not a plain http(s) address."
        if self.saved_origin is None:
            return (f"{stored} is not sent to {self.origin}: it is not known which address "
                    "it was saved for. Save the key again in Settings.")
        said = f"{stored} was saved for {self.saved_origin}"
        if self.is_run_override:
            return (f"{said} and is not sent to {self.origin}, given with --base-url. "
                    "To use a key there for this run, set OPENROUTER_API_KEY.")
        return (f"{said} and is not sent to {self.origin}. In Settings, save a key for "
                f"{self.origin}, move the stored key there, or delete it if that server "
                "needs none.")


class SettingsError(ChatroomError):
    """Settings could not be read or written."""


class StoreError(ChatroomError):
    """History could not be read or written."""


class DamagedStore(StoreError):
    """The history file is damaged or not a database: set it aside, start anew."""


class ReplyStateError(ChatroomError):
    """An illegal reply state transition: always a bug in Chatroom."""
