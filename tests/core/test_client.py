"""Tests for chatroom.core.client against the real fake OpenRouter on 127.0.0.1.

No mocked transport (STYLE.md rule 15): each test talks HTTP to
tests/fake_openrouter/ and asserts on what the server recorded. Retry delays go
through an injected `sleep` that records them, so no test waits for a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import logging
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping

import pytest

from chatroom import __version__
from chatroom.core.client import APP_TITLE, APP_URL, ChatClient, describe_host
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
    NetworkError,
    RateLimited,
    ReadTimeout,
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
    build_request,
)
from chatroom.core.secrets import ApiKey
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import default_models

PROMPT = "hello there world"
FEW_WORDS = "Lorem ipsum dolor"  # what fake/stall, fake/drop and fake/midstream-error send


class SleepRecorder:
    """An injected `sleep`: records each retry delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


@dataclasses.dataclass
class Outcome:
    """What one stream_chat call gave: its events, then the error that ended it."""

    events: list[StreamEvent]
    error: ChatroomError | None
    delays: list[float]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, Delta))

    @property
    def reasoning(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, ReasoningDelta))

    @property
    def retries(self) -> list[Retrying]:
        return [e for e in self.events if isinstance(e, Retrying)]


def make_client(base_url: str, key: str | None = TEST_KEY, **kwargs: object) -> ChatClient:
    return ChatClient(base_url, ApiKey(key) if key else None, **kwargs)  # type: ignore[arg-type]  # test kwargs


def body_for(model: str, prompt: str = PROMPT, params: Mapping[str, ParamValue] | None = None) -> dict[str, object]:
    return build_request(model, [{"role": "user", "content": prompt}], params or {})


async def _consume(client: ChatClient, body: Mapping[str, object], events: list[StreamEvent]) -> None:
    async with contextlib.aclosing(client.stream_chat(body)) as stream:
        async for event in stream:
            events.append(event)


def stream(
    base_url: str,
    model: str,
    *,
    key: str | None = TEST_KEY,
    prompt: str = PROMPT,
    params: Mapping[str, ParamValue] | None = None,
    **kwargs: object,
) -> Outcome:
    """Run one streaming request to the end and close the client."""
    sleep = SleepRecorder()

    async def go() -> Outcome:
        client = make_client(base_url, key, sleep=sleep, **kwargs)
        events: list[StreamEvent] = []
        try:
            await _consume(client, body_for(model, prompt, params), events)
        except ChatroomError as exc:
            return Outcome(events, exc, sleep.delays)
        finally:
            await client.aclose()
        return Outcome(events, None, sleep.delays)

    return asyncio.run(go())


@pytest.fixture
def server(fake_server: FakeOpenRouter) -> Iterator[FakeOpenRouter]:
    """The fake server; a test fails if a handler raised unexpectedly."""
    yield fake_server
    assert fake_server.errors == []


@pytest.fixture
def open_server() -> Iterator[FakeOpenRouter]:
    """A fake server that asks for no key, like a local llama.cpp."""
    with FakeOpenRouter(api_key=None) as fake:
        yield fake
        assert fake.errors == []


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------- the happy path


def test_echo_streams_the_text_then_finish_then_usage(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/echo")
    assert outcome.error is None
    assert outcome.text == PROMPT
    assert len([e for e in outcome.events if isinstance(e, Delta)]) == 3  # a word per delta
    tail = [e for e in outcome.events if not isinstance(e, Delta)]
    assert tail[0] == Finished("stop")
    assert isinstance(tail[1], UsageReport)
    assert len(tail) == 2
    assert outcome.events.index(tail[0]) == 3  # after every delta
    assert server.disconnects == []


def test_usage_with_cost_arrives(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/echo")
    [report] = [e for e in outcome.events if isinstance(e, UsageReport)]
    usage = report.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 3, 6)
    # The fake prices fake/* at 1e-6 per prompt and 2e-6 per completion token.
    assert usage.cost_usd == pytest.approx(3 * 1e-6 + 3 * 2e-6)


def test_the_request_is_sent_as_built(server: FakeOpenRouter) -> None:
    stream(server.base_url, "fake/echo", params={"temperature": 0.5, "top_p": 1.0})
    [request] = server.chat_requests()
    assert request.path == "/api/v1/chat/completions"
    assert request.body == {
        "model": "fake/echo",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "temperature": 0.5,
    }
    assert request.headers["user-agent"] == f"Chatroom/{__version__}"
    assert request.headers["content-type"] == "application/json"


def test_max_tokens_reaches_the_server(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/echo", params={"max_tokens": 2})
    assert outcome.text == "hello there "
    assert Finished("length") in outcome.events


def test_utf8_arrives_exactly(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/utf8")
    assert outcome.error is None
    assert outcome.text == "déjà vu — 日本語 🎉"


def test_reasoning_comes_before_the_answer(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/reasoning")
    assert outcome.error is None
    kinds = [type(e) for e in outcome.events if isinstance(e, Delta | ReasoningDelta)]
    first_delta = kinds.index(Delta)
    assert first_delta > 0
    assert set(kinds[:first_delta]) == {ReasoningDelta}
    assert set(kinds[first_delta:]) == {Delta}
    assert outcome.reasoning == "Let me think about this. The user wants a short answer, so I will give one."
    assert outcome.text == "The answer is 42."


def test_a_local_style_base_url_works(open_server: FakeOpenRouter) -> None:
    outcome = stream(open_server.local_base_url, "fake/echo", key=None)
    assert (outcome.error, outcome.text) == (None, PROMPT)
    assert open_server.chat_requests()[0].path == "/v1/chat/completions"


# ---------------------------------------------------------------- headers


def test_authorization_is_sent_when_a_key_exists(server: FakeOpenRouter) -> None:
    stream(server.base_url, "fake/echo")
    assert server.chat_requests()[0].headers["authorization"] == f"Bearer {TEST_KEY}"


def test_no_authorization_without_a_key(open_server: FakeOpenRouter) -> None:
    outcome = stream(open_server.base_url, "fake/echo", key=None)
    assert outcome.text == PROMPT
    assert "authorization" not in open_server.chat_requests()[0].headers


def test_no_key_against_a_server_that_wants_one_is_an_auth_error(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/echo", key=None)
    assert isinstance(outcome.error, AuthError)
    assert "No auth credentials found" in str(outcome.error)


def test_attribution_headers_when_asked(server: FakeOpenRouter) -> None:
    stream(server.base_url, "fake/echo", attribution=True)
    headers = server.chat_requests()[0].headers
    assert headers["http-referer"] == APP_URL
    assert headers["x-title"] == APP_TITLE == "Chatroom"
    assert headers["x-openrouter-title"] == "Chatroom"


def test_no_attribution_headers_for_other_hosts_by_default(server: FakeOpenRouter) -> None:
    stream(server.base_url, "fake/echo")
    headers = server.chat_requests()[0].headers
    assert not {"http-referer", "x-title", "x-openrouter-title"} & set(headers)


def test_describe_host() -> None:
    assert describe_host("https://openrouter.ai/api/v1") == "openrouter.ai"
    assert describe_host("http://127.0.0.1:8080/v1") == "127.0.0.1:8080"
    assert describe_host("not a url") == "not a url"


def test_repr_says_whether_a_key_is_set_not_what_it_is() -> None:
    async def go() -> tuple[str, str]:
        with_key, without = make_client("http://127.0.0.1:9/v1"), make_client("http://127.0.0.1:9/v1", None)
        try:
            return repr(with_key), repr(without)
        finally:
            await with_key.aclose()
            await without.aclose()

    with_key, without = asyncio.run(go())
    assert with_key == "ChatClient('http://127.0.0.1:9/v1', key=set)"
    assert without == "ChatClient('http://127.0.0.1:9/v1', key=none)"
    assert TEST_KEY not in with_key


# ---------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize(
    ("code", "cls", "attempts"),
    [
        (400, ContextTooLong, 1),
        (401, AuthError, 1),
        (402, InsufficientCredits, 1),
        (403, Forbidden, 1),
        (404, ModelNotFound, 1),
        (408, RequestTimeout, 3),
        (409, Conflict, 3),
        (413, BadRequest, 1),
        (422, BadRequest, 1),
        (429, RateLimited, 3),
        (500, ServerError, 3),
        (502, ModelUnavailable, 3),
        (503, ModelUnavailable, 3),
        (504, ServerError, 3),
        (529, ModelUnavailable, 3),
    ],
)
def test_each_http_status_raises_its_error(
    server: FakeOpenRouter, code: int, cls: type[ApiError], attempts: int
) -> None:
    outcome = stream(server.base_url, f"fake/http-{code}")
    assert type(outcome.error) is cls
    assert outcome.error.status == code
    assert outcome.text == ""
    assert len(server.chat_requests()) == attempts
    assert len(outcome.retries) == attempts - 1


def test_an_unknown_model_is_not_found(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "nobody/nothing")
    assert isinstance(outcome.error, ModelNotFound)
    assert "No endpoints found for nobody/nothing." in str(outcome.error)


def test_moderation_says_why(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/http-403")
    assert str(outcome.error).startswith("The prompt was flagged by OpenAI (harassment): ")


# ---------------------------------------------------------------- retries


def test_429_is_retried_and_says_so(server: FakeOpenRouter) -> None:
    server.fail_next("fake/echo", 429, retry_after=0)
    outcome = stream(server.base_url, "fake/echo", retry_base_s=0.5)
    assert outcome.error is None
    assert outcome.text == PROMPT
    [retry] = outcome.retries
    assert outcome.events[0] is retry
    assert retry.attempt == 1
    assert retry.reason.startswith("Rate limited: ")
    # Retry-After: 0 is no hint; the backoff is 0.5 s with jitter in (0.75, 1].
    assert 0.375 <= retry.delay_s <= 0.5
    assert outcome.delays == [retry.delay_s]
    assert len(server.chat_requests()) == 2


def test_retry_after_is_honoured(server: FakeOpenRouter) -> None:
    server.fail_next("fake/echo", 429, retry_after=3)
    outcome = stream(server.base_url, "fake/echo")
    assert outcome.text == PROMPT
    # Never early, spread by jitter: between 1.05 and 1.25 times the hint.
    [delay] = outcome.delays
    assert 3 * 1.05 <= delay <= 3 * 1.25
    assert [r.delay_s for r in outcome.retries] == [delay]


def test_retry_after_above_two_minutes_is_not_waited_for(server: FakeOpenRouter) -> None:
    server.fail_next("fake/echo", 429, retry_after=121)
    outcome = stream(server.base_url, "fake/echo")
    assert isinstance(outcome.error, RateLimited)
    assert outcome.error.retry_after_s == 121
    assert outcome.retries == [] and outcome.delays == []
    assert len(server.chat_requests()) == 1


def test_retries_are_capped_at_two_with_growing_backoff(server: FakeOpenRouter) -> None:
    server.fail_next("fake/echo", 503, count=5)
    outcome = stream(server.base_url, "fake/echo")
    assert isinstance(outcome.error, ModelUnavailable)
    assert len(server.chat_requests()) == 3
    assert [r.attempt for r in outcome.retries] == [1, 2]
    first, second = outcome.delays
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


def test_a_recovery_on_the_last_retry_succeeds(server: FakeOpenRouter) -> None:
    server.fail_next("fake/echo", 500, count=2)
    outcome = stream(server.base_url, "fake/echo")
    assert (outcome.error, outcome.text) == (None, PROMPT)
    assert len(outcome.retries) == 2
    assert len(server.chat_requests()) == 3


def test_max_retries_zero_sends_once(server: FakeOpenRouter) -> None:
    server.fail_next("fake/echo", 500)
    outcome = stream(server.base_url, "fake/echo", max_retries=0)
    assert isinstance(outcome.error, ServerError)
    assert len(server.chat_requests()) == 1


def test_a_rejected_key_is_not_retried(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/echo", key="sk-or-v1-wrong")
    assert isinstance(outcome.error, AuthError)
    assert "User not found." in str(outcome.error)
    assert outcome.retries == []
    assert len(server.chat_requests()) == 1


# ---------------------------------------------------------------- broken streams: never resent


def test_a_dropped_connection_is_interrupted_keeping_the_text(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/drop")
    assert isinstance(outcome.error, StreamInterrupted)
    assert outcome.text == FEW_WORDS
    assert len(server.chat_requests()) == 1


def test_a_body_ending_without_finish_or_done_is_interrupted(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/drop?clean=1")
    assert isinstance(outcome.error, StreamInterrupted)
    assert outcome.text == FEW_WORDS
    assert len(server.chat_requests()) == 1


def test_a_midstream_error_fails_with_the_providers_message(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/midstream-error")
    assert isinstance(outcome.error, ApiError)
    assert "Provider disconnected" in str(outcome.error)
    assert outcome.text == FEW_WORDS
    assert isinstance(outcome.events[0], Delta)
    assert len(server.chat_requests()) == 1


def test_malformed_json_fails(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/malformed")
    assert isinstance(outcome.error, MalformedResponse)
    assert outcome.text == "This "
    assert len(server.chat_requests()) == 1


def test_a_stalled_stream_times_out(server: FakeOpenRouter) -> None:
    outcome = stream(server.base_url, "fake/stall", read_timeout_s=0.5)
    assert isinstance(outcome.error, ReadTimeout)
    assert "No data for 0.5 s" in str(outcome.error)
    assert outcome.text == FEW_WORDS
    assert len(server.chat_requests()) == 1


def test_a_non_event_stream_200_is_malformed(server: FakeOpenRouter) -> None:
    # A 200 JSON body (here: a non-streamed request) is not an event stream.
    async def go() -> ChatroomError:
        client = make_client(server.base_url)
        body = build_request("fake/echo", [{"role": "user", "content": "hi"}], {}, stream=False)
        try:
            with pytest.raises(MalformedResponse) as info:
                await _consume(client, body, [])
            return info.value
        finally:
            await client.aclose()

    assert "did not send an event stream" in str(asyncio.run(go()))


# ---------------------------------------------------------------- network errors


def test_connection_refused_is_a_plain_network_error() -> None:
    port = dead_port()
    outcome = stream(f"http://127.0.0.1:{port}/api/v1", "fake/echo")
    error = outcome.error
    assert isinstance(error, NetworkError)
    assert str(error).startswith(f"Cannot reach 127.0.0.1:{port}")
    for noise in ("Traceback", "Errno", "httpx", "httpcore", "ConnectError", "<", "\n"):
        assert noise not in str(error)
    assert len(outcome.retries) == 2  # connect errors are retried before the first token


@pytest.mark.parametrize(
    "base_url",
    ["ftp://x", "not a url", "", "localhost:8080/v1", "http://a\x00b/v1", "http://[::1", "http://127.0.0.1:99999/v1"],
)
def test_an_invalid_base_url_is_a_network_error_not_retried(base_url: str) -> None:
    outcome = stream(base_url, "fake/echo")
    assert isinstance(outcome.error, NetworkError)
    assert "is not a valid http(s) URL" in str(outcome.error)
    assert outcome.retries == []


# ---------------------------------------------------------------- cancel


@pytest.mark.parametrize("model", ["fake/stall", "fake/lorem?rate=5"])
def test_cancel_closes_the_connection(server: FakeOpenRouter, model: str) -> None:
    async def go() -> tuple[list[StreamEvent], bool]:
        client = make_client(server.base_url)
        events: list[StreamEvent] = []
        two_in = asyncio.Event()

        async def consume() -> None:
            async with contextlib.aclosing(client.stream_chat(body_for(model))) as stream:
                async for event in stream:
                    events.append(event)
                    if len(events) == 2:
                        two_in.set()

        task = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(two_in.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            seen = list(events)
            left = await asyncio.to_thread(server.wait_for_disconnect, model, 5)
            return seen, left
        finally:
            task.cancel()
            await client.aclose()

    seen, left = asyncio.run(go())
    assert left, "the server never saw the client leave"
    assert all(isinstance(e, Delta) for e in seen)
    assert len(server.chat_requests()) == 1


# ---------------------------------------------------------------- models and connection test


def _call(base_url: str, key: str | None, method: str, **kwargs: object) -> object:
    async def go() -> object:
        client = make_client(base_url, key, **kwargs)
        try:
            return await getattr(client, method)()
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_list_models_returns_the_catalogue(server: FakeOpenRouter) -> None:
    models = _call(server.base_url, TEST_KEY, "list_models")
    assert isinstance(models, list)
    ids = [m["id"] for m in models]
    assert "fake/echo" in ids and "openai/gpt-4o-mini" in ids
    assert len(ids) == len(default_models())
    [request] = server.requests
    assert (request.method, request.path) == ("GET", "/api/v1/models")
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"


def test_list_models_follows_set_models(server: FakeOpenRouter) -> None:
    server.set_models([{"id": "only/one"}])
    assert _call(server.base_url, TEST_KEY, "list_models") == [{"id": "only/one"}]


def test_list_models_with_a_bad_key_is_an_auth_error(server: FakeOpenRouter) -> None:
    with pytest.raises(AuthError):
        _call(server.base_url, "sk-or-v1-wrong", "list_models")


def test_list_models_on_a_dead_port_is_a_network_error() -> None:
    port = dead_port()
    with pytest.raises(NetworkError, match=f"Cannot reach 127.0.0.1:{port}"):
        _call(f"http://127.0.0.1:{port}/v1", None, "list_models")


def test_list_models_from_a_server_that_is_not_openai_compatible(server: FakeOpenRouter) -> None:
    # "#" turns the "/models" the client appends into a fragment, so this GETs
    # the fake's /key, whose {"data": {...}} is not a list of models.
    with pytest.raises(MalformedResponse, match="did not return a list"):
        _call(server.base_url + "/key#", TEST_KEY, "list_models")


def test_test_connection_returns_a_sentence(server: FakeOpenRouter) -> None:
    line = _call(server.base_url, TEST_KEY, "test_connection")
    count = len(default_models())
    assert line == f"Connected to 127.0.0.1:{server.port}: {count} models, key accepted."
    assert [r.path for r in server.requests] == ["/api/v1/models"]


def test_test_connection_checks_the_key_on_openrouter(server: FakeOpenRouter) -> None:
    line = _call(server.base_url, TEST_KEY, "test_connection", attribution=True)
    assert isinstance(line, str) and line.endswith("key accepted.")
    assert [r.path for r in server.requests] == ["/api/v1/models", "/api/v1/key"]


def test_test_connection_without_a_key(open_server: FakeOpenRouter) -> None:
    line = _call(open_server.local_base_url, None, "test_connection")
    assert isinstance(line, str) and line.endswith("models, no key sent.")


def test_test_connection_with_a_rejected_key(server: FakeOpenRouter) -> None:
    with pytest.raises(AuthError, match="User not found"):
        _call(server.base_url, "sk-or-v1-wrong", "test_connection", attribution=True)


# ---------------------------------------------------------------- the key never leaks


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def test_the_key_is_in_no_error_event_or_log(
    open_server: FakeOpenRouter, server: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    canary = f"sk-canary-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    outcomes = [
        stream(server.base_url, "fake/echo", key=canary),  # 401 User not found
        stream(server.base_url, "fake/echo", key=canary, attribution=True),
        stream(f"http://127.0.0.1:{dead_port()}/v1", "fake/echo", key=canary),
        stream("ftp://x", "fake/echo", key=canary),
        stream(open_server.base_url, "fake/echo", key=canary),  # success
        stream(open_server.base_url, "fake/http-500", key=canary),
        stream(open_server.base_url, "fake/http-429?retry_after=0", key=canary),
        stream(open_server.base_url, "fake/midstream-error", key=canary),
        stream(open_server.base_url, "fake/drop", key=canary),
        stream(open_server.base_url, "fake/malformed", key=canary),
        stream(open_server.base_url, "fake/stall", key=canary, read_timeout_s=0.2),
    ]
    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == len(outcomes) - 1
    for method in ("list_models", "test_connection"):
        with pytest.raises(AuthError) as info:
            _call(server.base_url, canary, method, attribution=True)
        errors.append(info.value)

    assert open_server.chat_requests()[0].headers["authorization"] == f"Bearer {canary}"  # it was sent
    for error in errors:
        for link in _chain(error):
            assert canary not in str(link) and canary not in repr(link), repr(error)
            assert canary not in repr(link.args)
    for outcome in outcomes:
        assert canary not in repr(outcome.events)
    assert any(r.name.startswith("httpx") for r in caplog.records)  # the loggers did speak
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    for record in caplog.records:
        assert canary not in record.getMessage(), record.name
    assert canary not in caplog.text


@pytest.mark.skipif(
    importlib.util.find_spec("rich") is None or importlib.util.find_spec("click") is None,
    reason="httpx imports its command-line tool only when rich and click are installed",
)
def test_the_client_module_keeps_httpx_from_loading_its_command_line_tool() -> None:
    # A fresh interpreter: this one may have loaded rich for another reason.
    script = (
        "import sys, chatroom.core.client, httpx; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'click', 'pygments'}), callable(httpx.main))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["[]", "True"]
