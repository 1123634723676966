"""Tests for chatroom.core.protocol, and for SSE framing at every possible cut.

The framing tests feed byte chunks through a real `httpx.Response`, httpx-sse
and `ChatClient._events`, the path the client takes, with no socket (STYLE.md
rule 7): the network picks chunk boundaries, so every one is tried.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import AsyncIterator, Iterator
from typing import Final

import httpx
import pytest

from chatroom.core.client import ChatClient
from chatroom.core.errors import (
    ApiError,
    AuthError,
    BadRequest,
    ChatroomError,
    Conflict,
    ContextTooLong,
    Forbidden,
    InsufficientCredits,
    MalformedResponse,
    ModelNotFound,
    ModelUnavailable,
    ParameterError,
    RateLimited,
    RequestTimeout,
    ServerError,
    StreamInterrupted,
)
from chatroom.core.params import ParamValue
from chatroom.core.protocol import (
    Delta,
    Finished,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    UsageReport,
    apply_event,
    build_request,
    error_from_body,
    events_from_data,
    parse_retry_after,
)
from chatroom.core.room import Reply, ReplyState, Room, SeatId, Usage
from tests.fake_openrouter.scenarios import error_for_status

# ---------------------------------------------------------------- build_request


def test_build_request_has_model_messages_and_stream() -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = build_request("fake/echo", messages, {})
    assert body == {"model": "fake/echo", "messages": messages, "stream": True}


def test_build_request_sends_only_changed_params() -> None:
    params: dict[str, ParamValue] = {"temperature": 1.0, "top_p": 0.5, "top_k": 0, "max_tokens": 10, "stop": ["END"]}
    body = build_request("m", [{"role": "user", "content": "hi"}], params)
    assert {k: v for k, v in body.items() if k not in ("model", "messages", "stream")} == {
        "top_p": 0.5,
        "max_tokens": 10,
        "stop": ["END"],
    }
    assert json.loads(json.dumps(body)) == body  # plain JSON, ready to send


def test_build_request_rejects_unknown_and_out_of_range_params() -> None:
    with pytest.raises(ParameterError, match="logit_bias"):
        build_request("m", [], {"logit_bias": 1})
    with pytest.raises(ParameterError, match="temperature"):
        build_request("m", [], {"temperature": 2.5})


def test_build_request_copies_the_messages() -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = build_request("m", messages, {})
    sent = body["messages"]
    assert isinstance(sent, list)
    sent[0]["content"] = "changed"
    assert messages[0]["content"] == "hi"


@pytest.mark.parametrize(
    ("stream", "ask_usage", "has_options"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_stream_options_only_with_stream(stream: bool, ask_usage: bool, has_options: bool) -> None:
    body = build_request("m", [{"role": "user", "content": "hi"}], {}, stream=stream, ask_usage=ask_usage)
    assert body["stream"] is stream
    assert ("stream_options" in body) is has_options
    if has_options:
        assert body["stream_options"] == {"include_usage": True}


def test_build_request_sends_each_seat_its_own_history() -> None:
    room = Room(system_prompt="Be brief.", params={"temperature": 0.3})
    a = room.add_seat("m/a")
    b = room.add_seat("m/a", params={"temperature": 1.0})
    first = room.start_turn("one")
    for seat, text, state in ((a, "a1", ReplyState.STOPPED), (b, "b1", ReplyState.FAILED)):
        first.replies[seat.id].append_text(text)
        first.replies[seat.id].move_to(state)
    second = room.start_turn("two")
    body_a = build_request(a.model, room.messages_for(a.id, second), room.effective_params(a))
    body_b = build_request(b.model, room.messages_for(b.id, second), room.effective_params(b))
    assert body_a["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "two"},
    ]
    assert body_a["temperature"] == 0.3
    assert body_b["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "two"},
    ]
    assert "temperature" not in body_b  # the seat's override is the default


# ---------------------------------------------------------------- events_from_data


def chunk(delta: dict[str, object] | None = None, finish: str | None = None, **top: object) -> str:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return json.dumps({"id": "gen-1", "object": "chat.completion.chunk", "choices": [choice], **top})


def test_content_becomes_a_delta() -> None:
    assert events_from_data(chunk({"role": "assistant", "content": "Hel"})) == [Delta("Hel")]


def test_empty_or_null_content_gives_nothing() -> None:
    assert events_from_data(chunk({"role": "assistant", "content": ""})) == []
    assert events_from_data(chunk({"content": None})) == []
    assert events_from_data(chunk({"refusal": None})) == []


def test_reasoning_comes_before_content_of_the_same_delta() -> None:
    data = chunk({"content": "42", "reasoning": "Thinking."})
    assert events_from_data(data) == [ReasoningDelta("Thinking."), Delta("42")]


def test_empty_reasoning_gives_nothing() -> None:
    assert events_from_data(chunk({"content": "", "reasoning": ""})) == []


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter", "something_new"])
def test_finish_reasons(reason: str) -> None:
    assert events_from_data(chunk({"content": "lo"}, reason)) == [Delta("lo"), Finished(reason)]


def test_usage_with_cost() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14, "cost": 0.000003,
             "is_byok": False, "prompt_tokens_details": {"cached_tokens": 0}}  # fmt: skip
    data = json.dumps({"id": "gen-1", "choices": [], "usage": usage})
    assert events_from_data(data) == [UsageReport(Usage(12, 2, 14, 0.000003))]


def test_usage_without_cost_and_with_odd_fields() -> None:
    usage = {"prompt_tokens": True, "completion_tokens": "2", "total_tokens": 3, "cost": True}
    data = json.dumps({"choices": [], "usage": usage})
    assert events_from_data(data) == [UsageReport(Usage(None, None, 3, None))]


def test_integer_cost_becomes_a_float() -> None:
    [event] = events_from_data(json.dumps({"choices": [], "usage": {"cost": 0}}))
    assert isinstance(event, UsageReport)
    assert event.usage.cost_usd == 0.0
    assert isinstance(event.usage.cost_usd, float)


def test_usage_on_a_content_chunk_follows_its_events() -> None:
    data = chunk({"content": "x"}, "stop", usage={"total_tokens": 5})
    assert events_from_data(data) == [Delta("x"), Finished("stop"), UsageReport(Usage(total_tokens=5))]


def test_odd_choices_are_tolerated() -> None:
    assert events_from_data(json.dumps({"choices": None})) == []
    assert events_from_data(json.dumps({"choices": "x"})) == []
    assert events_from_data(json.dumps({"choices": [1, None, {"delta": "x"}, {}]})) == []
    assert events_from_data(json.dumps({})) == []
    assert events_from_data(json.dumps({"usage": None, "error": None})) == []


def test_several_choices_all_count() -> None:
    data = json.dumps({"choices": [{"delta": {"content": "a"}}, {"delta": {"content": "b"}}]})
    assert events_from_data(data) == [Delta("a"), Delta("b")]


def test_an_error_chunk_raises_with_the_providers_message() -> None:
    error = {"code": 502, "message": "Provider disconnected", "metadata": {"error_type": "provider_unavailable"}}
    data = chunk({"content": ""}, "error", error=error)
    with pytest.raises(ModelUnavailable) as info:
        events_from_data(data)
    assert info.value.status == 502
    assert info.value.message == "Provider disconnected"
    assert "Provider disconnected" in str(info.value)


def test_an_error_chunk_raises_even_with_empty_choices() -> None:
    data = json.dumps({"error": {"code": 429, "message": "Slow down"}, "choices": []})
    with pytest.raises(RateLimited, match="Slow down"):
        events_from_data(data)


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"code": "server_error", "message": "boom"}, ModelUnavailable, 502),  # §4: code may be a string
        ({"message": "no code"}, ModelUnavailable, 502),
        ({"code": 200, "message": "odd code"}, ModelUnavailable, 502),
        ({"code": 400, "message": "bad"}, BadRequest, 400),
        ({"code": 401, "message": "who"}, AuthError, 401),
        ("just a string", ModelUnavailable, 502),
    ],
)
def test_error_chunk_classes(error: object, cls: type[ApiError], status: int) -> None:
    with pytest.raises(cls) as info:
        events_from_data(json.dumps({"error": error, "choices": []}))
    assert type(info.value) is cls
    assert info.value.status == status


def test_finish_reason_error_without_an_error_object_raises() -> None:
    with pytest.raises(ApiError, match="ended the reply with an error"):
        events_from_data(chunk({"content": ""}, "error"))


@pytest.mark.parametrize("data", ['{"choices":[{"delta":{"content":"oops', "{", "", "data: {}", "nul"])
def test_broken_json_raises_malformed_response(data: str) -> None:
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        events_from_data(data)


@pytest.mark.parametrize("data", ["[]", "null", "42", '"text"'])
def test_json_that_is_not_an_object_raises_malformed_response(data: str) -> None:
    with pytest.raises(MalformedResponse, match="not a JSON object"):
        events_from_data(data)


# ---------------------------------------------------------------- error_from_body


def openrouter_body(status: int) -> dict[str, object]:
    """The realistic error body the fake server sends for `status`."""
    return error_for_status(status, "vendor/model", None).body


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ContextTooLong),  # the fake's 400 is the context-length one
        (401, AuthError),
        (402, InsufficientCredits),
        (403, Forbidden),
        (404, ModelNotFound),
        (408, RequestTimeout),
        (409, Conflict),
        (413, BadRequest),
        (422, BadRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ModelUnavailable),
        (503, ModelUnavailable),
        (504, ServerError),
        (524, ServerError),
        (529, ModelUnavailable),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[ApiError]) -> None:
    body = openrouter_body(status)
    error = error_from_body(status, json.dumps(body).encode())
    assert type(error) is cls
    assert error.status == status
    assert error.code == status
    inner = body["error"]
    assert isinstance(inner, dict)
    assert error.message == inner["message"]
    assert inner["message"] in str(error)
    assert isinstance(error, ApiError)


def test_409_is_retryable() -> None:
    # openrouter-api.md §10 and ARCHITECTURE.md: 408, 409, 429 and >= 500 are retried.
    assert error_from_body(409, openrouter_body(409)).is_retryable


def test_a_plain_400_is_a_bad_request() -> None:
    error = error_from_body(400, {"error": {"code": 400, "message": "Invalid JSON"}})
    assert type(error) is BadRequest
    assert str(error) == "The request was refused (400): Invalid JSON"
    assert not error.is_retryable


def test_context_too_long_is_found_by_error_type_not_status() -> None:
    body = {"error": {"message": "Too long.", "metadata": {"error_type": "context_length_exceeded"}}}
    error = error_from_body(413, body)
    assert isinstance(error, ContextTooLong)
    assert isinstance(error, BadRequest)
    assert "too long for this model" in str(error)


def test_moderation_reasons_are_in_the_message() -> None:
    error = error_from_body(403, openrouter_body(403))
    assert isinstance(error, Forbidden)
    assert error.metadata["reasons"] == ["harassment"]
    assert str(error).startswith("The prompt was flagged by OpenAI (harassment): ")
    assert "requires moderation" in str(error)


def test_rate_limited_carries_retry_after() -> None:
    error = error_from_body(429, openrouter_body(429), retry_after_s=7.0)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 7.0
    assert error.is_retryable
    assert str(error).startswith("Rate limited: ")


def test_model_unavailable_names_the_provider() -> None:
    error = error_from_body(502, openrouter_body(502))
    assert str(error) == "The model is unavailable (Fake): Provider returned error"


@pytest.mark.parametrize(
    ("status", "body", "cls", "text"),
    [
        (502, b"<html><body>Bad gateway</body></html>", ModelUnavailable,
         "The model is unavailable: HTTP status 502."),
        (401, b"", AuthError, "The key was rejected (No valid API key was sent.). "
                             "Check the API key in Settings (Ctrl+,)."),
        (402, "not json", InsufficientCredits, "Insufficient credits: Insufficient credits. "
                                               "Add credits to the account or lower max_tokens."),
        (404, b"\xff\xfe", ModelNotFound, "Model not found: Not found. Check the model id."),
        (429, b"[1, 2]", RateLimited, "Rate limited: Too many requests. Wait a moment and retry."),
        (500, None, ServerError, "The server failed (500): HTTP status 500."),
        (503, {"error": 5}, ModelUnavailable, "The model is unavailable: HTTP status 503."),
        (418, {"detail": "teapot"}, BadRequest, "The request was refused (418): HTTP status 418."),
        (400, {"error": {"message": "  "}}, BadRequest, "The request was refused (400): HTTP status 400."),
    ],
)  # fmt: skip
def test_non_openrouter_bodies_give_a_readable_message(
    status: int, body: object, cls: type[ApiError], text: str
) -> None:
    error = error_from_body(status, body)
    assert type(error) is cls
    assert str(error) == text


def test_ollama_style_string_error() -> None:
    error = error_from_body(404, b'{"error": "model \\"llama9\\" not found"}')
    assert isinstance(error, ModelNotFound)
    assert error.message == 'model "llama9" not found'


def test_openai_style_body_keeps_its_string_code() -> None:
    body = {"error": {"message": "Bad value", "type": "invalid_request_error", "code": "invalid_value"}}
    error = error_from_body(422, body)
    assert (type(error), error.code, error.message) == (BadRequest, "invalid_value", "Bad value")


def test_a_boolean_code_is_ignored() -> None:
    assert error_from_body(400, {"error": {"message": "x", "code": True}}).code == 400


def test_a_status_below_400_is_a_plain_api_error() -> None:
    error = error_from_body(302, b"")
    assert type(error) is ApiError
    assert str(error) == "The server answered 302: HTTP status 302."


# ---------------------------------------------------------------- parse_retry_after


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"RETRY-AFTER": "0"}, 0.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # ms wins
        ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),  # broken ms falls back
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
        ({"retry-after-ms": "x"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


def test_parse_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    headers = {"Retry-After": email.utils.formatdate(now + 30, usegmt=True)}
    assert parse_retry_after(headers, now=now) == pytest.approx(30.0)
    past = {"Retry-After": email.utils.formatdate(now - 30, usegmt=True)}
    assert parse_retry_after(past, now=now) == 0.0


def test_parse_retry_after_http_date_against_the_clock() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert parse_retry_after(headers) == 0.0


def test_parse_retry_after_takes_httpx_headers() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0


# ---------------------------------------------------------------- SSE framing at every cut


class ChunkStream(httpx.AsyncByteStream):
    """A response body that arrives in exactly the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._chunks:
            yield piece


# The client object is only a host for _events, which does no I/O; one for the
# module keeps each of the hundreds of cuts under a millisecond.
_PARSER: Final = ChatClient("http://127.0.0.1:9")


@pytest.fixture(scope="module", autouse=True)
def _close_parser() -> Iterator[None]:
    yield
    asyncio.run(_PARSER.aclose())


def _response(chunks: list[bytes], content_type: str = "text/event-stream") -> httpx.Response:
    return httpx.Response(200, headers={"content-type": content_type}, stream=ChunkStream(chunks))


async def _collect(chunks: list[bytes], into: list[StreamEvent], content_type: str) -> None:
    async for event in _PARSER._events(_response(chunks, content_type)):
        into.append(event)


def events_from(chunks: list[bytes], content_type: str = "text/event-stream") -> list[StreamEvent]:
    """The events a body cut into `chunks` gives, through httpx, httpx-sse and protocol."""
    events: list[StreamEvent] = []
    asyncio.run(_collect(chunks, events, content_type))
    return events


def events_until_error(chunks: list[bytes]) -> tuple[list[StreamEvent], ChatroomError]:
    """The events before the error a body raises, and the error."""
    events: list[StreamEvent] = []
    with pytest.raises(ChatroomError) as info:
        asyncio.run(_collect(chunks, events, "text/event-stream"))
    return events, info.value


STREAM: Final = (
    b": OPENROUTER PROCESSING\n\n"
    b": OPENROUTER PROCESSING\r\n\r\n"
    b'data: {"choices":[{"delta":{"role":"assistant","content":"d\xc3\xa9j\xc3\xa0"},"finish_reason":null}]}\r\n\r\n'
    b'data: {"choices":[{"delta":{"reasoning":"\xe6\x97\xa5\xe6\x9c\xac"},"finish_reason":null}]}\n\n'
    b'data:{"choices":[{"delta":{"content":" vu \xf0\x9f\x8e\x89"},"finish_reason":"stop"}]}\r\n\r\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"cost":0.5}}\n\n'
    b"data: [DONE]\r\n\r\n"
)
EXPECTED: Final[list[StreamEvent]] = [
    Delta("déjà"),
    ReasoningDelta("日本"),
    Delta(" vu 🎉"),
    Finished("stop"),
    UsageReport(Usage(3, 4, 7, 0.5)),
]


def test_the_whole_stream_in_one_chunk() -> None:
    assert events_from([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_any_cut_gives_the_same_events(cut: int) -> None:
    assert events_from([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_one_byte_at_a_time_gives_the_same_events() -> None:
    assert events_from([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


CR_STREAM: Final = (
    b": ping\r\r"
    b'data: {"choices":[{"delta":{"content":"\xc3\xa9t\xc3\xa9"},"finish_reason":"length"}]}\r\r'
    b"data: [DONE]\r\r"
)


@pytest.mark.parametrize("cut", range(len(CR_STREAM) + 1))
def test_bare_cr_line_ends_at_any_cut(cut: int) -> None:
    assert events_from([CR_STREAM[:cut], CR_STREAM[cut:]]) == [Delta("été"), Finished("length")]


def test_data_split_over_two_lines_is_joined() -> None:
    body = b'data: {"choices":[{"delta":\ndata: {"content":"hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    assert events_from([body]) == [Delta("hi"), Finished("stop")]


def test_empty_chunks_change_nothing() -> None:
    assert events_from([b"", STREAM[:10], b"", STREAM[10:], b""]) == EXPECTED


@pytest.mark.parametrize(
    "prelude",
    [b"retry: 3000\n\n", b"event: ping\n\n", b"id: 7\n\n", b"data:\n\n", b"data\n\n", b"id: 1\nevent: x\n"],
)
def test_an_event_without_data_is_not_dispatched(prelude: bytes) -> None:
    # The SSE standard: "If the data buffer is an empty string, ... return."
    # (httpx-sse dispatches it with data "", which is no JSON chunk.)
    assert events_from([prelude + STREAM]) == EXPECTED


def test_nothing_after_done_is_read() -> None:
    body = STREAM + b'data: {"choices":[{"delta":{"content":"late"}}]}\n\ndata: {broken\n\n'
    assert events_from([body]) == EXPECTED


def test_a_finish_reason_without_done_is_a_complete_reply() -> None:
    body = STREAM.replace(b"data: [DONE]\r\n\r\n", b"")
    assert events_from([body]) == EXPECTED


def test_no_done_and_no_finish_reason_is_interrupted_keeping_the_text() -> None:
    body = b": OPENROUTER PROCESSING\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\n"
    events, error = events_until_error([body[:30], body[30:]])
    assert events == [Delta("Hal")]
    assert isinstance(error, StreamInterrupted)


def test_an_empty_body_is_interrupted() -> None:
    events, error = events_until_error([])
    assert (events, type(error)) == ([], StreamInterrupted)


def test_a_last_event_without_its_blank_line_is_not_dispatched() -> None:
    body = b'data: {"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}\n'
    events, error = events_until_error([body])
    assert (events, type(error)) == ([], StreamInterrupted)


def test_an_error_chunk_in_the_stream_raises_after_the_text() -> None:
    body = (
        b'data: {"choices":[{"delta":{"content":"Once upon"}}]}\n\n'
        b'data: {"error":{"code":502,"message":"Provider disconnected"},'
        b'"choices":[{"delta":{"content":""},"finish_reason":"error"}]}\n\n'
    )
    events, error = events_until_error([body])
    assert events == [Delta("Once upon")]
    assert isinstance(error, ModelUnavailable)
    assert "Provider disconnected" in str(error)


def test_broken_json_in_the_stream_raises_malformed_response() -> None:
    body = b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: {"choices":[{"delta":{"content":"oops\n\n'
    events, error = events_until_error([body])
    assert events == [Delta("ok")]
    assert isinstance(error, MalformedResponse)


def test_a_body_that_is_not_an_event_stream_is_malformed() -> None:
    with pytest.raises(MalformedResponse, match="did not send an event stream"):
        events_from([b'{"choices": []}'], content_type="application/json")


# ---------------------------------------------------------------- apply_event


def test_apply_event_fills_the_reply_and_a_retry_notice_changes_nothing() -> None:
    reply = Reply(SeatId("s1"))
    apply_event(reply, Retrying(1, 0.5, "Rate limited"))
    assert (reply.state.value, reply.text) == ("waiting", "")  # unchanged
    for event in (
        ReasoningDelta("think "),
        Delta("Hel"),
        Delta("lo"),
        UsageReport(Usage(prompt_tokens=3, completion_tokens=2)),
        Finished("stop"),
    ):
        apply_event(reply, event)
    assert reply.state is ReplyState.STREAMING  # the stream's end, not an event, finishes it
    assert (reply.text, reply.reasoning, reply.finish_reason) == ("Hello", "think ", "stop")
    assert reply.usage == Usage(prompt_tokens=3, completion_tokens=2)
