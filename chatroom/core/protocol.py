"""The chat protocol without I/O: building requests, parsing chunks and error bodies.

Nothing here touches a socket, a clock or a logger, so every function is tested
with plain values. openrouter-api.md §2-§6 is the reference.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chatroom.core.errors import (
    ApiError,
    AuthError,
    BadRequest,
    Conflict,
    ContextTooLong,
    Forbidden,
    InsufficientCredits,
    MalformedResponse,
    ModelNotFound,
    ModelUnavailable,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from chatroom.core.params import ParamValue, changed_params
from chatroom.core.room import Message, Reply, Usage

__all__ = [
    "Delta",
    "Finished",
    "ReasoningDelta",
    "Retrying",
    "StreamEvent",
    "UsageReport",
    "apply_event",
    "build_request",
    "error_from_body",
    "events_from_data",
    "parse_retry_after",
]


@dataclass(frozen=True)
class Delta:
    """A piece of the reply's text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning text (shown apart from the answer)."""

    text: str


@dataclass(frozen=True)
class UsageReport:
    """The usage chunk: token counts and, on OpenRouter, the cost in USD."""

    usage: Usage


@dataclass(frozen=True)
class Finished:
    """The model reported why it stopped (stop, length, content_filter, ...)."""

    reason: str


@dataclass(frozen=True)
class Retrying:
    """The request failed before any token and will be sent again after delay_s."""

    attempt: int
    delay_s: float
    reason: str


StreamEvent = Delta | ReasoningDelta | UsageReport | Finished | Retrying


def apply_event(reply: Reply, event: StreamEvent) -> None:
    """What a stream event changes in its reply (a Retrying notice changes nothing)."""
    if isinstance(event, Delta):
        reply.append_text(event.text)
    elif isinstance(event, ReasoningDelta):
        reply.append_reasoning(event.text)
    elif isinstance(event, UsageReport):
        reply.usage = event.usage
    elif isinstance(event, Finished):
        reply.finish_reason = event.reason


def build_request(
    model: str,
    messages: Sequence[Message],
    params: Mapping[str, ParamValue],
    *,
    stream: bool = True,
    ask_usage: bool = False,
) -> dict[str, object]:
    """The JSON body of a chat completion: only changed parameters are sent.

    `ask_usage` adds stream_options.include_usage, which local servers need to
    report usage when streaming and which OpenRouter ignores (§9).
    """
    body: dict[str, object] = {
        "model": model,
        "messages": [dict(m) for m in messages],
        "stream": stream,
    }
    body.update(changed_params(params))
    if stream and ask_usage:
        body["stream_options"] = {"include_usage": True}
    return body


def events_from_data(data: str) -> list[StreamEvent]:
    """Turn one SSE `data` payload (not `[DONE]`) into events.

    Raises ApiError for an `error` object inside the stream, MalformedResponse
    for anything that is not a chunk.
    """
    try:
        chunk = json.loads(data)
    except ValueError:
        raise MalformedResponse(
            "Malformed response: the server sent a chunk that is not valid JSON."
        ) from None
    if not isinstance(chunk, dict):
        raise MalformedResponse("Malformed response: a chunk is not a JSON object.")
    error = chunk.get("error")
    if error:
        raise error_from_body(_status_of(error), {"error": error})
    events: list[StreamEvent] = []
    for choice in _list(chunk.get("choices")):
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.append(Delta(content))
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            if reason == "error":
                raise ApiError(502, "The provider ended the reply with an error.")
            events.append(Finished(reason))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        events.append(UsageReport(_usage(usage)))
    return events


def _status_of(error: object) -> int:
    if isinstance(error, dict):
        code = error.get("code")
        if isinstance(code, int) and 400 <= code <= 599:
            return code
    return 502


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(raw: Mapping[str, object]) -> Usage:
    cost = raw.get("cost")
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        total_tokens=_int(raw.get("total_tokens")),
        cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


def error_from_body(
    status: int,
    body: object,
    *,
    retry_after_s: float | None = None,
) -> ApiError:
    """Map an HTTP status and its (parsed or raw) body to the error hierarchy.

    Accepts OpenRouter's `{"error": {"code", "message", "metadata"}}`, the
    OpenAI shape `{"error": {"message", "type", "code"}}`, and anything else
    (an HTML proxy page, an empty body), which becomes a generic message.
    """
    message, code, metadata = _unpack_error(body)
    if not message:
        message = _generic_message(status)
    error_type = metadata.get("error_type")
    if error_type == "context_length_exceeded":
        return ContextTooLong(status, message, code=code, metadata=metadata)
    cls = _ERROR_CLASSES.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else BadRequest if status >= 400 else ApiError
    return cls(status, message, code=code, metadata=metadata, retry_after_s=retry_after_s)


_ERROR_CLASSES: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthError,
    402: InsufficientCredits,
    403: Forbidden,
    404: ModelNotFound,
    408: RequestTimeout,
    409: Conflict,  # §10: retried like 408
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
    502: ModelUnavailable,
    503: ModelUnavailable,
    529: ModelUnavailable,
}


def _unpack_error(body: object) -> tuple[str, int | str | None, dict[str, object]]:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return "", None, {}
    if not isinstance(body, dict):
        return "", None, {}
    error = body.get("error")
    if isinstance(error, str):
        return error, None, {}
    if not isinstance(error, dict):
        return "", None, {}
    message = error.get("message")
    code = error.get("code")
    metadata = error.get("metadata")
    return (
        message.strip() if isinstance(message, str) else "",
        code if isinstance(code, int | str) and not isinstance(code, bool) else None,
        dict(metadata) if isinstance(metadata, dict) else {},
    )


def _generic_message(status: int) -> str:
    return {
        401: "No valid API key was sent.",
        402: "Insufficient credits.",
        404: "Not found.",
        429: "Too many requests.",
    }.get(status, f"HTTP status {status}.")


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # deferred: 3 ms of start-up, and dates here are rare

    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))
