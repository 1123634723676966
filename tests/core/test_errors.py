"""Tests for chatroom.core.errors: the hierarchy as drawn, and what the user reads."""

from __future__ import annotations

import re

import pytest

from chatroom.core import errors
from chatroom.core.errors import (
    ApiError,
    AuthError,
    BadRequest,
    ChatroomError,
    Conflict,
    ContextTooLong,
    Forbidden,
    InsufficientCredits,
    KeyOriginMismatch,
    MalformedResponse,
    ModelNotFound,
    ModelUnavailable,
    NetworkError,
    ParameterError,
    RateLimited,
    ReadTimeout,
    RequestTimeout,
    ServerError,
    StreamInterrupted,
)


def _drawn_tree() -> dict[str, str]:
    """Class name -> parent name, read from the module docstring's indented tree."""
    assert errors.__doc__ is not None
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^( *)([A-Z]\w+)", line)
        if match is None or not match.group(1) and match.group(2) != "ChatroomError":
            continue
        indent, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((indent, name))
    return parents


def test_the_docstring_draws_every_error_with_its_real_parent() -> None:
    drawn = _drawn_tree()
    assert set(drawn) == set(errors.__all__) - {"ChatroomError"}
    for name, parent in drawn.items():
        cls = getattr(errors, name)
        assert cls.__bases__[0].__name__ == parent, name


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_chatroom_error_with_a_docstring(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, ChatroomError)
    assert cls.__doc__


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (ApiError, False),
        (BadRequest, False),
        (ContextTooLong, False),
        (AuthError, False),
        (InsufficientCredits, False),
        (Forbidden, False),
        (ModelNotFound, False),
        (RequestTimeout, True),
        (Conflict, True),
        (RateLimited, True),
        (ServerError, True),
        (ModelUnavailable, True),
    ],
)
def test_only_transient_api_errors_are_retryable(cls: type[ApiError], retryable: bool) -> None:
    assert cls(500, "x").is_retryable is retryable


def test_other_errors_retryable_or_not() -> None:
    assert NetworkError("x").is_retryable
    assert ReadTimeout(1).is_retryable
    assert not StreamInterrupted().is_retryable
    assert not MalformedResponse("x").is_retryable
    assert not ParameterError("x").is_retryable


def test_api_error_keeps_its_fields() -> None:
    error = ApiError(418, "teapot", code="tea", metadata={"a": 1}, retry_after_s=2.5)
    assert (error.status, error.code, error.message) == (418, "tea", "teapot")
    assert error.metadata == {"a": 1}
    assert error.retry_after_s == 2.5
    assert str(error) == "The server answered 418: teapot"


def test_api_error_code_falls_back_to_the_status() -> None:
    error = ApiError(503, "down")
    assert error.code == 503
    assert error.metadata == {}
    assert error.retry_after_s is None


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (BadRequest(422, "bad field"), "The request was refused (422): bad field"),
        (ContextTooLong(400, "8192 max."), "The conversation is too long for this model: 8192 max. "
                                           "Start a new room or remove seats with long replies."),
        (AuthError(401, "User not found."), "The key was rejected (User not found.). "
                                            "Check the API key in Settings (Ctrl+,)."),
        (InsufficientCredits(402, "No credit."), "Insufficient credits: No credit. "
                                                 "Add credits to the account or lower max_tokens."),
        (Forbidden(403, "Nope."), "Forbidden: Nope."),
        (ModelNotFound(404, "No endpoints."), "Model not found: No endpoints. Check the model id."),
        (RequestTimeout(408, "Timed out."), "The server answered 408: Timed out."),
        (Conflict(409, "Busy."), "The server answered 409: Busy."),
        (RateLimited(429, "Slow down."), "Rate limited: Slow down. Wait a moment and retry."),
        (ServerError(500, "Oops"), "The server failed (500): Oops"),
        (ModelUnavailable(503, "None left."), "The model is unavailable: None left."),
        (ModelUnavailable(502, "Err", metadata={"provider_name": "Fake"}),
         "The model is unavailable (Fake): Err"),
    ],
)  # fmt: skip
def test_messages_are_sentences_for_the_user(error: ApiError, text: str) -> None:
    assert str(error) == text


def test_forbidden_names_the_moderation_reasons_and_provider() -> None:
    metadata = {"reasons": ["harassment", "violence"], "provider_name": "OpenAI"}
    error = Forbidden(403, "Input flagged.", metadata=metadata)
    assert str(error) == "The prompt was flagged by OpenAI (harassment, violence): Input flagged."


def test_forbidden_reasons_without_a_provider() -> None:
    error = Forbidden(403, "Flagged.", metadata={"reasons": ["hate"], "provider_name": None})
    assert str(error) == "The prompt was flagged (hate): Flagged."


def test_forbidden_with_empty_reasons_is_plain() -> None:
    assert str(Forbidden(403, "No.", metadata={"reasons": []})) == "Forbidden: No."


def test_read_timeout_says_how_long() -> None:
    error = ReadTimeout(0.5)
    assert error.timeout_s == 0.5
    assert str(error).startswith("No data for 0.5 s: the server stopped sending.")
    assert "No data for 120 s" in str(ReadTimeout(120.0))


def test_stream_interrupted_has_a_default_message() -> None:
    assert str(StreamInterrupted()) == "The connection closed before the reply was complete."
    assert str(StreamInterrupted("Cut.")) == "Cut."


def test_parameter_error_is_also_a_value_error() -> None:
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize(
    ("args", "override", "text"),
    [
        (("https://a.example", "https://b.example"), False,
         "The API key stored for “gw” was saved for https://a.example and is not sent to "
         "https://b.example. In Settings, save a key for https://b.example, move the stored key "
         "there, or delete it if that server needs none."),
        (("https://openrouter.ai", "https://b.example"), True,
         "The API key stored for “gw” was saved for https://openrouter.ai and is not sent to "
         "https://b.example, given with --base-url. To use a key there for this run, set "
         "OPENROUTER_API_KEY."),
        ((None, "https://b.example"), False,
         "The API key stored for “gw” is not sent to https://b.example: it is not known which "
         "address it was saved for. Save the key again in Settings."),
        (("https://a.example", None), False,
         "The API key stored for “gw” is not sent: the base URL is not a plain http(s) address."),
    ],
)
def test_key_origin_mismatch_names_both_addresses_and_the_fix(
    args: tuple[str | None, str | None], override: bool, text: str
) -> None:
    error = KeyOriginMismatch("gw", *args, is_run_override=override)
    assert str(error) == text
    assert (error.endpoint, error.saved_origin, error.origin) == ("gw", *args)
    assert error.is_run_override is override and not error.is_retryable


@pytest.mark.parametrize(
    ("error", "sentence_end"),
    [
        (InsufficientCredits(402, "You requested 4096 tokens but can only afford 1000"), "afford 1000. Add"),
        (InsufficientCredits(402, "Out of credits."), "credits. Add"),
        (RateLimited(429, "Slow down!"), "down! Wait"),
        (ModelNotFound(404, "No endpoints found for x/y"), "x/y. Check"),
        (ContextTooLong(400, "This model's maximum context length is 8192 tokens"), "tokens. Start"),
    ],
)
def test_the_servers_message_ends_its_sentence_before_the_hint(error: ApiError, sentence_end: str) -> None:
    assert sentence_end in str(error)
