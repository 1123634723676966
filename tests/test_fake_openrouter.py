"""The fake OpenRouter server speaks the protocol that openrouter-api.md describes.

Plain httpx and httpx-sse against the real server on 127.0.0.1: if these pass,
a failing app test points at the app, not at the fake.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
import pytest

from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import prompt_tokens

HI: list[dict[str, Any]] = [{"role": "user", "content": "hello there world"}]


@pytest.fixture
def server() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def client(server: FakeOpenRouter) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        yield http


def chat(model: str, *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": HI, "stream": stream, **extra}


def sse_data(http: httpx.Client, body: dict[str, Any]) -> list[str]:
    """Return the `data` of every event, comments skipped by httpx-sse."""
    with httpx_sse.connect_sse(http, "POST", "/chat/completions", json=body) as source:
        assert source.response.status_code == 200
        return [event.data for event in source.iter_sse()]


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def parse_all(data: list[str]) -> list[dict[str, Any]]:
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def test_echo_streams_the_prompt_word_by_word(client: httpx.Client) -> None:
    chunks = parse_all(sse_data(client, chat("fake/echo")))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert [d["content"] for d in deltas] == ["hello ", "there ", "world"]
    assert deltas[0]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes == [None, None, "stop"]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"fake/echo"}


def test_usage_chunk_comes_last_with_cost(client: httpx.Client) -> None:
    chunks = parse_all(sse_data(client, chat("fake/echo")))
    usage_chunks = [c for c in chunks if "usage" in c]
    assert usage_chunks == [chunks[-1]]
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (3, 3, 6)
    assert usage["cost"] == pytest.approx(3 * 0.000001 + 3 * 0.000002)


def test_prompt_tokens_of_a_long_prompt_are_its_words_counted_in_slices() -> None:
    # Slices of 64 KiB end at whitespace: no word is cut in two or counted twice.
    text = ("wörd  \t" + "x" * 70_000 + "\n " + "a b " * 20_000) * 3 + "end"
    messages = [{"role": "system", "content": "one two"}, {"role": "user", "content": text}]
    assert prompt_tokens(messages) == 2 + len(text.split())


def test_stream_has_comments_headers_and_ends_with_done(server: FakeOpenRouter, client: httpx.Client) -> None:
    with client.stream("POST", "/chat/completions", json=chat("fake/echo")) as response:
        lines = list(response.iter_lines())
        headers = response.headers
    assert lines[0] == ": OPENROUTER PROCESSING"
    assert [line for line in lines if line][-1] == "data: [DONE]"
    assert headers["content-type"] == "text/event-stream"
    assert headers["x-generation-id"] == json.loads(lines[2].removeprefix("data: "))["id"]
    assert server.chat_requests()[0].body["stream"] is True


def test_max_tokens_cuts_echo_with_length(client: httpx.Client) -> None:
    chunks = parse_all(sse_data(client, chat("fake/echo", max_tokens=2)))
    assert content_of(chunks) == "hello there "
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


def test_http_429_has_retry_after_and_error_body(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat("fake/http-429"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == 429
    assert "rate-limited" in response.json()["error"]["message"]
    response = client.post("/chat/completions", json=chat("fake/http-429?retry_after=0"))
    assert response.headers["retry-after"] == "0"


def test_http_403_carries_moderation_metadata(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat("fake/http-403"))
    assert response.status_code == 403
    metadata = response.json()["error"]["metadata"]
    assert set(metadata) == {"reasons", "flagged_input", "provider_name", "model_slug"}


def test_fail_next_fails_then_succeeds(server: FakeOpenRouter, client: httpx.Client) -> None:
    server.fail_next("fake/echo", 503, count=2, retry_after=0.5)
    statuses = [client.post("/chat/completions", json=chat("fake/echo", stream=False)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["retry-after"] == "0.5"
    assert len(server.chat_requests()) == 3


def test_stall_notices_the_client_leaving(server: FakeOpenRouter, client: httpx.Client) -> None:
    with httpx_sse.connect_sse(client, "POST", "/chat/completions", json=chat("fake/stall")) as source:
        events = source.iter_sse()
        first = [next(events).data for _ in range(3)]
    assert all(json.loads(d)["choices"][0]["delta"]["content"] for d in first)
    assert server.wait_for_disconnect("fake/stall", timeout_s=2)
    assert server.disconnects == ["fake/stall"]


def test_stop_does_not_hang_on_an_open_stall() -> None:
    with FakeOpenRouter() as fake, httpx.Client(base_url=fake.base_url, timeout=5) as http:
        with http.stream("POST", "/chat/completions", json=chat("fake/stall")) as response:
            lines = response.iter_lines()
            next(lines)
            started = time.monotonic()
            fake.stop()
            assert time.monotonic() - started < 1.5
            with pytest.raises(httpx.RemoteProtocolError):
                list(lines)
    assert fake.disconnects == []


def test_drop_ends_without_done_or_finish(client: httpx.Client) -> None:
    data: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx_sse.connect_sse(client, "POST", "/chat/completions", json=chat("fake/drop")) as source:
            data.extend(event.data for event in source.iter_sse())
    assert data and "[DONE]" not in data
    assert all(json.loads(d)["choices"][0]["finish_reason"] is None for d in data)


def test_clean_drop_ends_the_body_without_done(client: httpx.Client) -> None:
    data = sse_data(client, chat("fake/drop?clean=1"))
    assert data and "[DONE]" not in data
    assert all(json.loads(d)["choices"][0]["finish_reason"] is None for d in data)


def test_midstream_error_sends_error_chunk_and_no_done(client: httpx.Client) -> None:
    data = sse_data(client, chat("fake/midstream-error"))
    last = json.loads(data[-1])
    assert "[DONE]" not in data
    assert last["error"] == {"code": 502, "message": "Provider disconnected",
                             "metadata": {"error_type": "provider_unavailable"}}  # fmt: skip
    assert last["choices"][0]["finish_reason"] == "error"


def test_reasoning_comes_before_content(client: httpx.Client) -> None:
    chunks = parse_all(sse_data(client, chat("fake/reasoning")))
    kinds = ["reasoning" if c["choices"][0]["delta"].get("reasoning") else "content" for c in chunks[:-1]]
    assert kinds.index("content") > 0 and "reasoning" not in kinds[kinds.index("content") :]
    assert content_of(chunks) == "The answer is 42."
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == kinds.count("reasoning")


def test_malformed_line_sits_between_good_events(client: httpx.Client) -> None:
    data = sse_data(client, chat("fake/malformed"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(data[1])
    good = parse_all(data[:1] + data[2:])
    assert content_of(good) == "This reply survives one malformed event."


def test_utf8_events_are_cut_mid_character(client: httpx.Client) -> None:
    with client.stream("POST", "/chat/completions", json=chat("fake/utf8")) as response:
        pieces = list(response.iter_bytes())
    broken = 0
    for piece in pieces:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            broken += 1
    assert broken > 0
    data = [line.removeprefix("data: ") for line in b"".join(pieces).decode().splitlines() if line.startswith("data:")]
    assert content_of(parse_all(data)) == "déjà vu — 日本語 🎉"


def test_lorem_holds_its_rate(client: httpx.Client) -> None:
    arrivals: list[float] = []
    body = chat("fake/lorem?rate=200", max_tokens=40)
    with httpx_sse.connect_sse(client, "POST", "/chat/completions", json=body) as source:
        for event in source.iter_sse():
            if event.data != "[DONE]" and json.loads(event.data)["choices"]:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 40
    assert 0.15 < arrivals[-1] - arrivals[0] < 0.6  # 39 intervals of 5 ms = 0.195 s


def test_slow_start_sends_keepalives_before_the_first_token(client: httpx.Client) -> None:
    started = time.monotonic()
    with client.stream("POST", "/chat/completions", json=chat("fake/slow-start?delay=0.6")) as response:
        lines = response.iter_lines()
        comments = 0
        for line in lines:
            if line.startswith("data:"):
                break
            comments += line.startswith(":")
        first_token_s = time.monotonic() - started
        list(lines)
    assert comments == 2  # at 0 s and 0.5 s
    assert 0.55 < first_token_s < 1.5


def test_non_stream_returns_a_completion_with_usage(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat("fake/echo", stream=False))
    assert response.status_code == 200
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["id"] == response.headers["x-generation-id"]
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "hello there world", "reasoning": None}
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["cost"] > 0


def test_auth_is_required_when_a_key_is_set() -> None:
    with FakeOpenRouter(api_key="sk-test") as fake, httpx.Client(base_url=fake.base_url) as http:
        missing = http.get("/models")
        wrong = http.post("/chat/completions", json=chat("fake/echo", stream=False),
                          headers={"Authorization": "Bearer nope"})  # fmt: skip
        right = http.get("/key", headers={"Authorization": "Bearer sk-test"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.json() == {"error": {"code": 401, "message": "No auth credentials found"}}
    assert "sk-test" not in right.text
    assert len(fake.requests) == 3


def test_models_have_openrouter_shape(server: FakeOpenRouter, client: httpx.Client) -> None:
    listing = client.get("/models").json()
    by_id = {m["id"]: m for m in listing["data"]}
    assert {"fake/echo", "fake/lorem", "fake/stall", "openai/gpt-4o-mini"} <= set(by_id)
    model = by_id["openai/gpt-4o-mini"]
    assert isinstance(model["pricing"]["prompt"], str) and isinstance(model["context_length"], int)
    assert {"top_provider", "supported_parameters", "default_parameters", "architecture"} <= set(model)
    server.set_models([{"id": "local/model"}])
    assert client.get("/models").json()["data"] == [{"id": "local/model"}]
    assert client.post("/chat/completions", json=chat("local/model", stream=False)).status_code == 200


def test_key_shape(client: httpx.Client) -> None:
    data = client.get("/key").json()["data"]
    assert {"label", "limit", "limit_remaining", "usage", "is_free_tier"} <= set(data)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/nope", None, 404),
        ("/api/v1/chat/completions", b"{not json", 400),
        ("/api/v1/chat/completions", b'{"model": "fake/echo"}', 400),
        ("/api/v1/chat/completions", json.dumps(chat("nobody/knows")).encode(), 404),
        ("/api/v1/chat/completions", json.dumps(chat("fake/lorem?rate=fast")).encode(), 400),
    ],
)
def test_bad_requests_get_error_bodies(server: FakeOpenRouter, path: str, body: bytes | None, status: int) -> None:
    with httpx.Client(base_url=server.root_url) as http:
        response = http.post(path, content=body) if body is not None else http.get(path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == status


def test_local_server_paths_work(server: FakeOpenRouter) -> None:
    with httpx.Client(base_url=server.local_base_url) as http:
        assert http.get("/models").status_code == 200
        data = sse_data(http, chat("fake/echo"))
    assert data[-1] == "[DONE]"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX-only")
def test_runs_standalone_until_interrupted() -> None:
    command = [sys.executable, "-m", "tests.fake_openrouter", "--port", "0"]
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        assert httpx.get(f"{base_url}/models").status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
