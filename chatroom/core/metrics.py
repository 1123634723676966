"""Time to first token, tokens per second and cost of a reply, and how to show them.

Everything here is a pure function of a Reply, the catalogue's prices and an
optional `now`, so a pane can recompute its metrics line on every flush and a
test can inject the clock. Numbers the server did not report are estimated
(token counts from the text, cost from catalogue prices) and flagged, so the
UI marks them with "~". Money stays `Decimal`; see catalog.py for why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from chatroom.core.catalog import Pricing
from chatroom.core.room import Reply

__all__ = [
    "CostRange",
    "SEPARATOR",
    "ReplyMetrics",
    "estimate_tokens",
    "estimate_turn_cost",
    "format_metrics",
    "format_usd",
    "rank_replies",
    "reply_metrics",
]

#: Below this a cost shows as "<$0.000001": fewer digits than that mean nothing.
_SMALLEST_USD: Final = Decimal("0.000001")
_CENT: Final = Decimal("0.01")
#: Between the parts of a metrics line (a narrow pane drops parts after one).
SEPARATOR: Final = " · "
_COUNT_WORDS_UP_TO: Final = 100_000
#: Tokens that all arrived within this span have no meaningful rate: a server
#: that sends a reply in one burst (or a transcript made without streaming)
#: would show millions of tokens/s and top the speed ranking.
MIN_RATE_SPAN_S: Final = 0.02


@dataclass(frozen=True)
class ReplyMetrics:
    """What a pane header shows about one reply; None means unknown (yet)."""

    #: First token (text or reasoning) minus the request's start.
    ttft_s: float | None
    #: Completion tokens per second since the first token.
    tokens_per_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    #: The counts come from estimate_tokens, not the server's usage chunk.
    tokens_estimated: bool
    #: usage.cost when the server sent it, else from catalogue prices, else None.
    cost_usd: Decimal | None
    #: The cost was computed from catalogue prices rather than reported.
    cost_estimated: bool


def estimate_tokens(text: str) -> int:
    """A rough token count for text the server has not counted (yet).

    About four characters per token, the usual figure for English with BPE
    tokenizers, but never fewer than the number of whitespace-separated
    words, since each word costs at least one token; 0 for empty text. It
    only fills the gap until the usage chunk arrives, so it is simple rather
    than right for every language.
    """
    if not text:
        return 0
    by_length = (len(text) + 2) // 4  # +2: round half up
    if len(text) > _COUNT_WORDS_UP_TO:
        # Splitting megabytes into words costs ~40 ms per MB on the GUI thread;
        # at that size the length alone is as good an estimate.
        return by_length
    return max(1, len(text.split()), by_length)


def reply_metrics(
    reply: Reply,
    *,
    prompt_text: str = "",
    pricing: Pricing | None = None,
    started_at: float | None = None,
    now: float | None = None,
) -> ReplyMetrics:
    """The metrics of `reply` as it stands, streaming or ended.

    `prompt_text` (everything sent) estimates prompt tokens before usage
    arrives; `pricing` prices replies whose server reports no cost;
    `started_at` replaces `reply.created_at` as the request's start (e.g.
    after a wait in a queue); `now` is the clock for a reply still streaming.
    """
    prompt, completion, estimated = _token_counts(reply, prompt_text)
    cost, cost_estimated = _cost(reply, pricing, prompt, completion)
    return ReplyMetrics(
        ttft_s=_ttft(reply, started_at),
        tokens_per_s=_rate(reply, completion, now),
        prompt_tokens=prompt,
        completion_tokens=completion,
        tokens_estimated=estimated,
        cost_usd=cost,
        cost_estimated=cost_estimated,
    )


def _ttft(reply: Reply, started_at: float | None) -> float | None:
    if reply.first_token_at is None:
        return None
    start = reply.created_at if started_at is None else started_at
    return max(0.0, reply.first_token_at - start)


def _rate(reply: Reply, completion: int | None, now: float | None) -> float | None:
    """Tokens per second after the first token.

    The first token starts the clock, so n tokens span n - 1 intervals: a
    stream at 100 tokens/s measures 100, not 100 × n / (n - 1). None until
    the tokens span MIN_RATE_SPAN_S.
    """
    if reply.first_token_at is None or completion is None or completion < 2:
        return None
    end = reply.finished_at
    if end is None:
        end = time.time() if now is None else now
    duration_s = end - reply.first_token_at
    return (completion - 1) / duration_s if duration_s >= MIN_RATE_SPAN_S else None


def _token_counts(reply: Reply, prompt_text: str) -> tuple[int | None, int | None, bool]:
    """(prompt, completion, estimated): the usage chunk's counts, else estimates."""
    usage = reply.usage
    prompt = usage.prompt_tokens if usage is not None else None
    completion = usage.completion_tokens if usage is not None else None
    estimated = False
    if prompt is None and reply.prompt_tokens_estimate is not None:
        prompt, estimated = reply.prompt_tokens_estimate, True
    elif prompt is None and prompt_text:
        prompt, estimated = estimate_tokens(prompt_text), True
    # Reasoning is billed as output and counted in completion_tokens (§7).
    generated = reply.text + reply.reasoning
    if completion is None and generated:
        completion, estimated = estimate_tokens(generated), True
    return prompt, completion, estimated


def _cost(
    reply: Reply, pricing: Pricing | None, prompt: int | None, completion: int | None
) -> tuple[Decimal | None, bool]:
    """(cost, estimated): the reported cost is authoritative (§7); prices are a fallback."""
    if reply.usage is not None and reply.usage.cost_usd is not None:
        # str() first: the float's shortest repr is the decimal the server sent.
        return Decimal(str(reply.usage.cost_usd)), False
    if pricing is None or prompt is None or completion is None:
        return None, False
    return pricing.cost(prompt, completion), True


def format_metrics(metrics: ReplyMetrics) -> str:
    """One short line for a pane header; unknown parts are left out.

    e.g. "TTFT 0.41 s · 57 tok/s · 12 → 80 tok · $0.00033", with "~" before
    estimated numbers.
    """
    approx = "~" if metrics.tokens_estimated else ""
    parts: list[str] = []
    if metrics.ttft_s is not None:
        parts.append(f"TTFT {metrics.ttft_s:.2f} s")
    if metrics.tokens_per_s is not None:
        parts.append(f"{approx}{_format_rate(metrics.tokens_per_s)} tok/s")
    tokens = _format_tokens(metrics.prompt_tokens, metrics.completion_tokens, approx)
    if tokens:
        parts.append(tokens)
    if metrics.cost_usd is not None:
        parts.append(("~" if metrics.cost_estimated else "") + format_usd(metrics.cost_usd))
    return SEPARATOR.join(parts)


def _format_rate(tokens_per_s: float) -> str:
    # Whole numbers from 10 up; a slow local model's 3.4 tok/s keeps its decimal.
    return f"{tokens_per_s:.0f}" if tokens_per_s >= 10 else f"{tokens_per_s:.1f}"


def _format_tokens(prompt: int | None, completion: int | None, approx: str) -> str:
    if completion is None:
        return "" if prompt is None else f"{approx}{prompt:,} tok in"
    if prompt is None:
        return f"{approx}{completion:,} tok"
    return f"{approx}{prompt:,} → {approx}{completion:,} tok"


def format_usd(amount: Decimal) -> str:
    """Dollars for people: "$1.24", "$0.0065", "$0.00033", "<$0.000001", "$0".

    A dollar or more gets cents; less gets two significant digits, since a
    reply often costs a fraction of a cent and "$0.00" would say nothing.
    """
    if amount < 0:
        return "-" + format_usd(-amount)
    if amount == 0:
        return "$0"
    if amount < _SMALLEST_USD:
        return f"<${_SMALLEST_USD:f}"
    if amount >= 1:
        return f"${amount.quantize(_CENT, ROUND_HALF_UP):,f}"
    two_digits = Decimal(1).scaleb(amount.adjusted() - 1)
    text = f"{amount.quantize(two_digits, ROUND_HALF_UP):f}"
    # Trailing zeros say nothing below a cent ("$0.00001", not "$0.000010").
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"


@dataclass(frozen=True)
class CostRange:
    """What the next turn may cost, over the seats whose prices are known."""

    low: Decimal
    #: None: unbounded (a priced seat has no max_tokens and no known max_output).
    high: Decimal | None
    #: Seats without prices, not counted in low or high.
    unknown_seats: int


def estimate_turn_cost(
    seats: Sequence[tuple[str, Pricing | None, int | None]],
    prompt_tokens_per_seat: Sequence[int],
) -> CostRange:
    """The cost range of sending the next prompt to every seat.

    Each seat is (label, pricing, max completion tokens: the max_tokens
    parameter, else the model's max_output, else None). `low` prices the
    prompts alone (and any per-request fee); `high` adds every seat writing
    its maximum. ValueError when the two sequences differ in length.
    """
    low = Decimal(0)
    ceiling: Decimal | None = Decimal(0)
    unknown = 0
    for (_label, pricing, max_tokens), prompt in zip(seats, prompt_tokens_per_seat, strict=True):
        if pricing is None:
            unknown += 1
            continue
        low += pricing.cost(prompt, 0)
        output = _output_ceiling(pricing, max_tokens)
        ceiling = None if ceiling is None or output is None else ceiling + output
    return CostRange(low, None if ceiling is None else low + ceiling, unknown)


def _output_ceiling(pricing: Pricing, max_tokens: int | None) -> Decimal | None:
    """The most one seat's output can cost; free output costs nothing however long."""
    if not pricing.completion:
        return Decimal(0)
    return None if max_tokens is None else max_tokens * pricing.completion


_Value = Callable[[ReplyMetrics], Decimal | float | None]
_RANKINGS: Final[Mapping[str, tuple[_Value, bool]]] = {
    # name: (value, higher is better)
    "ttft": (lambda m: m.ttft_s, False),
    "tokens_per_s": (lambda m: m.tokens_per_s, True),
    "length": (lambda m: m.completion_tokens, True),
    "cost": (lambda m: m.cost_usd, False),
}


def rank_replies(metrics: Mapping[str, ReplyMetrics]) -> dict[str, list[str]]:
    """Seat labels best first for "ttft", "tokens_per_s", "length" and "cost".

    Lowest TTFT, highest rate, most completion tokens, lowest cost; seats
    without the value go last. Ties keep the order of `metrics`.
    """
    return {name: _rank(metrics, value, best_high) for name, (value, best_high) in _RANKINGS.items()}


def _rank(metrics: Mapping[str, ReplyMetrics], value: _Value, best_high: bool) -> list[str]:
    known = [(label, v) for label, m in metrics.items() if (v := value(m)) is not None]
    # Decimal() compares floats, ints and Decimals exactly; sorting is stable even reversed.
    known.sort(key=lambda item: Decimal(item[1]), reverse=best_high)
    unknown = [label for label, m in metrics.items() if value(m) is None]
    return [label for label, _ in known] + unknown
