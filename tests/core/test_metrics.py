"""Tests for chatroom.core.metrics: pure cases with an injected clock, then real streams.

The stream tests drive ChatClient.stream_chat against the fake OpenRouter on
127.0.0.1 and fill a Reply the way the session does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from chatroom.core.catalog import Catalog, Pricing, fetch_catalog
from chatroom.core.client import ChatClient
from chatroom.core.metrics import (
    CostRange,
    ReplyMetrics,
    estimate_tokens,
    estimate_turn_cost,
    format_metrics,
    format_usd,
    rank_replies,
    reply_metrics,
)
from chatroom.core.params import ParamValue
from chatroom.core.protocol import Delta, apply_event, build_request
from chatroom.core.room import Reply, ReplyState, SeatId, Usage
from chatroom.core.secrets import ApiKey
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import cost_usd, default_models

S1 = SeatId("s1")
HAIKU = Pricing(Decimal("0.0000008"), Decimal("0.000004"))
TOLERANCE = 0.25  # timing on a shared machine: ±25 %


def reply_at(
    *,
    created_at: float = 100.0,
    first_token_at: float | None = None,
    finished_at: float | None = None,
    text: str = "",
    reasoning: str = "",
    usage: Usage | None = None,
) -> Reply:
    reply = Reply(S1, created_at=created_at, first_token_at=first_token_at, finished_at=finished_at, usage=usage)
    reply.text = text
    reply.reasoning = reasoning
    return reply


def metrics(**fields: object) -> ReplyMetrics:
    """ReplyMetrics with every field unknown unless given."""
    base: dict[str, object] = {
        "ttft_s": None, "tokens_per_s": None, "prompt_tokens": None, "completion_tokens": None,
        "tokens_estimated": False, "cost_usd": None, "cost_estimated": False,
    }  # fmt: skip
    return ReplyMetrics(**(base | fields))  # type: ignore[arg-type]  # test shorthand; fields checked at runtime


# ---------------------------------------------------------------- estimate_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        (" ", 1),  # not empty: at least one token
        ("a b c d e", 5),  # short words: one token each, more than 9 / 4
        ("x" * 40, 10),
        ("abcdefghij", 3),  # 2.5 rounds up
        ("abcdefghi", 2),  # 2.25 rounds down
        ("The quick brown fox jumps over the lazy dog.", 11),
    ],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


# ---------------------------------------------------------------- reply_metrics


def test_a_waiting_reply_has_no_metrics() -> None:
    m = reply_metrics(reply_at(), pricing=HAIKU, now=200.0)
    assert m == metrics()
    assert format_metrics(m) == ""


def test_a_streaming_reply_is_estimated_from_its_text() -> None:
    reply = reply_at(created_at=100.0, first_token_at=100.4, text="x" * 40)  # 10 tokens
    m = reply_metrics(reply, prompt_text="one two three", pricing=HAIKU, now=101.3)
    assert m.ttft_s == pytest.approx(0.4)
    assert m.tokens_per_s == pytest.approx(9 / 0.9)  # 10 tokens: 9 intervals after the first
    assert (m.prompt_tokens, m.completion_tokens, m.tokens_estimated) == (3, 10, True)
    assert m.cost_usd == Decimal("0.0000424") and m.cost_estimated  # 3 × 0.8/M + 10 × 4/M
    assert format_metrics(m) == "TTFT 0.40 s · ~10 tok/s · ~3 → ~10 tok · ~$0.000042"


def test_a_finished_reply_uses_usage_and_the_reported_cost() -> None:
    usage = Usage(prompt_tokens=12, completion_tokens=80, total_tokens=92, cost_usd=0.00033)
    reply = reply_at(created_at=100.0, first_token_at=100.41, finished_at=101.80, text="short", usage=usage)
    m = reply_metrics(reply, prompt_text="ignored once usage is known", pricing=HAIKU, now=500.0)
    assert m.tokens_per_s == pytest.approx(79 / 1.39)  # finished_at, not now
    assert (m.prompt_tokens, m.completion_tokens, m.tokens_estimated) == (12, 80, False)
    assert (m.cost_usd, m.cost_estimated) == (Decimal("0.00033"), False)
    assert format_metrics(m) == "TTFT 0.41 s · 57 tok/s · 12 → 80 tok · $0.00033"


def test_usage_without_cost_is_priced_from_the_catalogue() -> None:
    usage = Usage(prompt_tokens=1234, completion_tokens=0)
    m = reply_metrics(reply_at(usage=usage), pricing=HAIKU)
    assert (m.cost_usd, m.cost_estimated, m.tokens_estimated) == (Decimal("0.0009872"), True, False)


def test_no_price_without_prices_or_a_prompt_count() -> None:
    reply = reply_at(first_token_at=100.5, text="some words here")
    assert reply_metrics(reply, prompt_text="hi", now=101.0).cost_usd is None  # no pricing
    assert reply_metrics(reply, pricing=HAIKU, now=101.0).cost_usd is None  # prompt unknown
    no_text = reply_metrics(reply_at(), prompt_text="hi", pricing=HAIKU)
    assert (no_text.prompt_tokens, no_text.completion_tokens, no_text.cost_usd) == (1, None, None)
    assert format_metrics(no_text) == "~1 tok in"


def test_reasoning_counts_as_output() -> None:
    reply = reply_at(first_token_at=100.0, reasoning="x" * 20, text="x" * 20)
    assert reply_metrics(reply, now=101.0).completion_tokens == 10


def test_started_at_replaces_created_at() -> None:
    reply = reply_at(created_at=100.0, first_token_at=103.0)
    assert reply_metrics(reply, started_at=102.5).ttft_s == pytest.approx(0.5)
    # A start after the first token (a clock step) never gives a negative time.
    assert reply_metrics(reply, started_at=104.0).ttft_s == 0.0


@pytest.mark.parametrize(
    ("text", "finished_at", "now"),
    [
        ("one", None, 105.0),  # a single token has no rate yet
        ("one two three", 100.0, None),  # zero duration
        ("one two three " * 700, 100.000_001, None),  # 2,100 tokens in one burst: no rate, not 2e9 tok/s
        ("one two three", None, 100.019),  # under MIN_RATE_SPAN_S
        ("one two three", None, 99.0),  # a clock behind the first token
    ],
)
def test_no_rate_without_two_tokens_and_some_time(text: str, finished_at: float | None, now: float | None) -> None:
    reply = reply_at(created_at=99.0, first_token_at=100.0, finished_at=finished_at, text=text)
    assert reply_metrics(reply, now=now).tokens_per_s is None


def test_a_streaming_reply_without_now_uses_the_clock() -> None:
    reply = reply_at(created_at=time.time() - 2, first_token_at=time.time() - 1, text="a b c d e f")
    rate = reply_metrics(reply).tokens_per_s
    assert rate is not None and 4 < rate <= 5.01  # 5 intervals in a little over a second


# ---------------------------------------------------------------- format_metrics


@pytest.mark.parametrize(
    ("m", "line"),
    [
        (metrics(ttft_s=1.234), "TTFT 1.23 s"),
        (metrics(tokens_per_s=3.44), "3.4 tok/s"),
        (metrics(tokens_per_s=9.96), "10.0 tok/s"),
        (metrics(tokens_per_s=10.0), "10 tok/s"),
        (metrics(completion_tokens=80), "80 tok"),
        (metrics(prompt_tokens=1234, completion_tokens=12345), "1,234 → 12,345 tok"),
        (metrics(prompt_tokens=12), "12 tok in"),
        (metrics(cost_usd=Decimal("0.0065")), "$0.0065"),
        (metrics(cost_usd=Decimal("0"), cost_estimated=True), "~$0"),
        (metrics(tokens_per_s=100.0, completion_tokens=80, tokens_estimated=True), "~100 tok/s · ~80 tok"),
    ],
)
def test_format_metrics_shows_only_what_is_known(m: ReplyMetrics, line: str) -> None:
    assert format_metrics(m) == line


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0.0065", "$0.0065"),
        ("0.00033", "$0.00033"),
        ("0.000333333", "$0.00033"),
        ("0.0009872", "$0.00099"),
        ("1.24", "$1.24"),
        ("1.245", "$1.25"),
        ("1234.5", "$1,234.50"),
        ("0.5", "$0.50"),
        ("0.999", "$1.00"),
        ("0.00999", "$0.01"),
        ("0.00001", "$0.00001"),
        ("0.000001", "$0.000001"),
        ("0.00000099", "<$0.000001"),
        ("0", "$0"),
        ("0E-12", "$0"),
        ("-0.5", "-$0.50"),
    ],
)
def test_format_usd(amount: str, text: str) -> None:
    assert format_usd(Decimal(amount)) == text


# ---------------------------------------------------------------- estimate_turn_cost


def test_turn_cost_spans_prompts_alone_to_every_maximum() -> None:
    gpt = Pricing(Decimal("0.0000025"), Decimal("0.00001"), Decimal("0.001"))
    seats = [("haiku", HAIKU, 1000), ("gpt", gpt, 350), ("local", None, None)]
    estimate = estimate_turn_cost(seats, [1234, 1200, 99])
    low = Decimal("0.0009872") + Decimal("0.003") + Decimal("0.001")
    assert estimate == CostRange(low=low, high=low + Decimal("0.004") + Decimal("0.0035"), unknown_seats=1)


def test_turn_cost_is_unbounded_when_a_paid_seat_has_no_maximum() -> None:
    seats = [("haiku", HAIKU, None), ("free", Pricing(Decimal(0), Decimal(0)), None), ("other", HAIKU, 10)]
    assert estimate_turn_cost(seats, [1000, 1000, 1000]) == CostRange(Decimal("0.0016"), None, 0)


def test_free_output_needs_no_maximum() -> None:
    seats = [("free", Pricing(Decimal("0.000001"), Decimal(0)), None)]
    assert estimate_turn_cost(seats, [100]) == CostRange(Decimal("0.0001"), Decimal("0.0001"), 0)


def test_turn_cost_of_nothing_and_of_mismatched_lists() -> None:
    assert estimate_turn_cost([], []) == CostRange(Decimal(0), Decimal(0), 0)
    with pytest.raises(ValueError):
        estimate_turn_cost([("a", HAIKU, 5)], [])


# ---------------------------------------------------------------- rank_replies


def test_rank_replies_best_first_unknown_last() -> None:
    table = {
        "a": metrics(ttft_s=0.5, tokens_per_s=50.0, completion_tokens=100, cost_usd=Decimal("0.002")),
        "b": metrics(ttft_s=0.2, tokens_per_s=None, completion_tokens=300, cost_usd=None),
        "c": metrics(ttft_s=None, tokens_per_s=80.0, completion_tokens=None, cost_usd=Decimal("0.0001")),
        "d": metrics(ttft_s=0.5, tokens_per_s=50.0, completion_tokens=100, cost_usd=Decimal("0.002")),
    }
    assert rank_replies(table) == {
        "ttft": ["b", "a", "d", "c"],
        "tokens_per_s": ["c", "a", "d", "b"],
        "length": ["b", "a", "d", "c"],
        "cost": ["c", "a", "d", "b"],
    }
    assert rank_replies({}) == {"ttft": [], "tokens_per_s": [], "length": [], "cost": []}


# ---------------------------------------------------------------- real streams


async def stream_into_reply(
    client: ChatClient,
    model: str,
    params: dict[str, ParamValue],
    on_delta: Callable[[Reply], None] = lambda reply: None,
) -> Reply:
    """Fill a Reply from a real stream as the session does, ending it DONE."""
    reply = Reply(S1)
    body = build_request(model, [{"role": "user", "content": "hello there world"}], params)
    async for event in client.stream_chat(body):
        apply_event(reply, event)
        if isinstance(event, Delta):
            on_delta(reply)
    reply.move_to(ReplyState.DONE)
    return reply


def stream(
    server: FakeOpenRouter,
    model: str,
    params: dict[str, ParamValue] | None = None,
    on_delta: Callable[[Reply], None] = lambda reply: None,
) -> Reply:
    async def main() -> Reply:
        client = ChatClient(server.base_url, ApiKey(TEST_KEY))
        try:
            # Warm up: a process's first request pays ~40 ms of one-off setup
            # that would otherwise land in the measured TTFT.
            await client.list_models()
            return await stream_into_reply(client, model, params or {}, on_delta)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_ttft_of_a_slow_start(fake_server: FakeOpenRouter) -> None:
    m = reply_metrics(stream(fake_server, "fake/slow-start?delay=0.3"))
    assert m.ttft_s == pytest.approx(0.3, rel=TOLERANCE)


def test_tokens_per_second_of_a_steady_stream(fake_server: FakeOpenRouter) -> None:
    seen: list[ReplyMetrics] = []

    def on_delta(reply: Reply) -> None:
        if len(seen) < 1 and len(reply.text.split()) >= 10:
            seen.append(reply_metrics(reply, prompt_text="hello there world"))

    reply = stream(fake_server, "fake/lorem?rate=100", {"max_tokens": 50}, on_delta)
    m = reply_metrics(reply)
    assert (m.completion_tokens, m.tokens_estimated) == (50, False)
    assert m.tokens_per_s == pytest.approx(100, rel=TOLERANCE)
    # Mid-stream, before the usage chunk, the counts were estimates and marked so.
    [early] = seen
    assert early.tokens_estimated and early.completion_tokens is not None
    assert early.tokens_per_s is not None and "~" in format_metrics(early)


def test_cost_from_usage_is_the_servers(fake_server: FakeOpenRouter) -> None:
    reply = stream(fake_server, "fake/lorem?rate=1000", {"max_tokens": 50})
    usage = reply.usage
    assert usage is not None and usage.cost_usd is not None
    assert usage.prompt_tokens is not None and usage.completion_tokens is not None
    [lorem] = [m for m in default_models() if m["id"] == "fake/lorem"]
    expected = cost_usd(lorem, usage.prompt_tokens, usage.completion_tokens)
    m = reply_metrics(reply)
    assert (m.cost_usd, m.cost_estimated) == (Decimal(str(expected)), False)
    # The catalogue's prices give the same number, marked as an estimate.
    catalog = asyncio.run(_fetch(fake_server))
    model = catalog.find("fake/lorem")
    assert model is not None
    unreported = reply_at(usage=Usage(usage.prompt_tokens, usage.completion_tokens))
    priced = reply_metrics(unreported, pricing=model.pricing)
    assert (priced.cost_usd, priced.cost_estimated) == (m.cost_usd, True)


async def _fetch(server: FakeOpenRouter) -> Catalog:
    client = ChatClient(server.base_url, ApiKey(TEST_KEY))
    try:
        return await fetch_catalog(client, "openrouter")
    finally:
        await client.aclose()


def test_reasoning_starts_the_clock_and_counts_as_output(fake_server: FakeOpenRouter) -> None:
    at_first_delta: list[tuple[str, ReplyMetrics]] = []

    def on_delta(reply: Reply) -> None:
        if not at_first_delta:
            at_first_delta.append((reply.reasoning, reply_metrics(reply)))

    stream(fake_server, "fake/reasoning", on_delta=on_delta)
    [(reasoning, m)] = at_first_delta
    assert reasoning and m.ttft_s is not None
    assert m.completion_tokens is not None and m.completion_tokens > estimate_tokens(reasoning)
