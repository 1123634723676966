"""What each fake model does, decided from the request alone.

Nothing here touches a socket or a clock: the server turns a `ReplyPlan` into
bytes and timing. The model id picks the behaviour; options ride after `?` in
the id (`fake/lorem?rate=50`) so a GUI model picker can select them too.

Protocol shapes follow ../shared/openrouter-api.md (sections cited inline).
"""

from __future__ import annotations

import dataclasses
import enum
import re
import time
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl

__all__ = [
    "DEFAULT_MODEL",
    "SCENARIO_IDS",
    "Ending",
    "ErrorReply",
    "HOSTILE_TRACK_PATH",
    "JsonObject",
    "ModelRef",
    "ReplyPlan",
    "cost_usd",
    "default_models",
    "error_body",
    "error_for_status",
    "hostile_markdown",
    "message_text",
    "parameters_data",
    "parse_model_id",
    "plan_reply",
    "prompt_tokens",
    "split_words",
]

JsonObject = dict[str, Any]

# §1: an omitted `model` means "the account's default model".
DEFAULT_MODEL: Final = "fake/echo"

SCENARIO_IDS: Final = (
    "fake/echo",
    "fake/lorem",
    "fake/slow-start",
    "fake/stall",
    "fake/midstream-error",
    "fake/drop",
    "fake/reasoning",
    "fake/malformed",
    "fake/utf8",
    "fake/hostile",
    "fake/huge",
)

# Statuses listed in the catalogue so a model picker can offer them; any
# 400-599 code works as `fake/http-<code>` whether listed or not.
_LISTED_HTTP_CODES: Final = (400, 401, 402, 403, 404, 408, 429, 500, 502, 503)
_HTTP_SCENARIO: Final = re.compile(r"fake/http-(\d{3})")
_SPACE: Final = re.compile(r"\s")
# The server runs in the tests' process and one C call holds the GIL
# throughout: splitting 5 MB at once takes 65 ms, which a window's stall
# meter would count as the window's. A slice this long takes under 1 ms.
_SPLIT_SLICE_CHARS: Final = 65_536

# Echo-like replies come quickly but not all at once, so a client sees many
# separate deltas rather than one coalesced read.
_ECHO_INTERVAL_S: Final = 0.002
_DEFAULT_LOREM_WORDS: Final = 50
_DEFAULT_LOREM_RATE: Final = 200.0
_DEFAULT_SLOW_START_S: Final = 1.5
_DEFAULT_RETRY_AFTER_429_S: Final = 1.0
_FEW_WORDS: Final = 3
_LOREM_PARAGRAPH_WORDS: Final = 60
_DEFAULT_HUGE_KB: Final = 1024
_DEFAULT_HUGE_CHUNK: Final = 4096
# Big deltas close together: 1 MB arrives in about half a second, far faster
# than any model writes, so the client's per-delta and per-byte costs show.
_DEFAULT_HUGE_RATE: Final = 500.0

_LOREM: Final = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure "
    "dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
    "Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
    "mollit anim id est laborum."
).split()

_REASONING_TEXT: Final = "Let me think about this. The user wants a short answer, so I will give one."
_REASONING_ANSWER: Final = "The answer is 42."
_MALFORMED_TEXT: Final = "This reply survives one malformed event."
_UTF8_TEXT: Final = "déjà vu — 日本語 🎉"
#: Where `fake/hostile` points when the server does not say its own address.
_DEFAULT_ORIGIN: Final = "http://127.0.0.1"
#: The path of the hostile reply's innocent-looking link (its text is not its URL).
HOSTILE_TRACK_PATH: Final = "/track"


class Ending(enum.Enum):
    """How a reply's stream ends after its last planned delta."""

    DONE = "done"  # finish_reason on the last delta, usage chunk, `data: [DONE]`
    ERROR = "error"  # §4 mid-stream error chunk, then a clean end of body
    STALL = "stall"  # nothing more until the client leaves or the server stops
    DROP = "drop"  # connection closed mid-body (incomplete chunked encoding)
    DROP_CLEAN = "drop-clean"  # body ends properly, but no finish_reason, no [DONE]


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A requested model id split into its base id and `?` options."""

    model_id: str
    base: str
    options: dict[str, str]

    def option_float(self, name: str, default: float, *, positive: bool = False) -> float:
        """Return option `name` as a float; ValueError (a 400 to the client) if invalid."""
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"Option {name}={raw!r} in model id {self.model_id!r} is not a number") from None
        if value < 0 or (positive and value == 0) or value != value:
            raise ValueError(f"Option {name}={raw!r} in model id {self.model_id!r} is out of range")
        return value

    def option_flag(self, name: str) -> bool:
        """Return whether option `name` is set to a true-ish value (`1`, `true`, `yes`)."""
        return self.options.get(name, "").lower() in {"1", "true", "yes"}


@dataclasses.dataclass(frozen=True)
class ReplyPlan:
    """Everything the server needs to play one reply, streamed or not.

    Tokens are whitespace-separated words, each with its following whitespace,
    so joining `content` gives the reply text exactly.
    """

    content: tuple[str, ...]
    reasoning: tuple[str, ...] = ()
    finish_reason: str = "stop"
    delay_s: float = 0.0  # before the first token; keep-alive comments fill it
    interval_s: float = _ECHO_INTERVAL_S  # between token starts, scheduled from the first
    ending: Ending = Ending.DONE
    malformed_after: int | None = None  # insert a broken `data:` line after this delta
    split_utf8: bool = False  # cut each event's bytes mid-character across two writes


@dataclasses.dataclass(frozen=True)
class ErrorReply:
    """A non-200 answer: status, OpenRouter error body and extra headers."""

    status: int
    body: JsonObject
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def parse_model_id(model_id: str) -> ModelRef:
    """Split `fake/lorem?rate=50` into base id and options (last value wins)."""
    base, _, query = model_id.partition("?")
    return ModelRef(model_id=model_id, base=base, options=dict(parse_qsl(query)))


def split_words(text: str) -> list[str]:
    """Split text into word tokens that keep their trailing whitespace.

    Leading whitespace rides on the first token so `"".join(tokens) == text`.
    """
    tokens = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    if tokens and lead:
        tokens[0] = lead + tokens[0]
    return tokens


def message_text(content: object) -> str:
    """Return the text of a message's `content`: a string or a list of parts (§2)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return " ".join(t for t in texts if isinstance(t, str))


def prompt_tokens(messages: list[Any]) -> int:
    """Count prompt tokens as whitespace-separated words over all messages."""
    return sum(_count_words(message_text(m.get("content"))) for m in messages if isinstance(m, dict))


def _count_words(text: str) -> int:
    """`len(text.split())`, split a slice at a time (see _SPLIT_SLICE_CHARS); slices end at whitespace."""
    count = start = 0
    while start < len(text):
        space = _SPACE.search(text, start + _SPLIT_SLICE_CHARS)
        end = space.start() if space else len(text)
        count += len(text[start:end].split())
        start = end
    return count


def _last_user_text(messages: list[Any]) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return message_text(users[-1].get("content")) if users else ""


def _max_tokens(body: JsonObject) -> int | None:
    """Return the output cap; `max_completion_tokens` is the spec's preferred alias (§2)."""
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_tokens must be an integer >= 1, got {value!r}")
    return value


def _capped(tokens: list[str], body: JsonObject) -> tuple[tuple[str, ...], str]:
    """Apply max_tokens: a reply cut short finishes with `length`, as OpenRouter normalises it."""
    cap = _max_tokens(body)
    if cap is not None and len(tokens) > cap:
        return tuple(tokens[:cap]), "length"
    return tuple(tokens), "stop"


def _lorem_tokens(count: int) -> list[str]:
    """`count` words of lorem ipsum in paragraphs, as real replies come."""
    return split_words(_lorem_text(count))


def _lorem_text(count: int) -> str:
    """The text of `_lorem_tokens(count)`, built without splitting it.

    The server runs in the test's process: one `re.findall` over a megabyte
    holds the GIL for 35 ms (twice that on a busy machine), and the window's
    stall meter would count it.
    """
    words = [_LOREM[i % len(_LOREM)] for i in range(count)]
    text = "".join(
        word + ("\n\n" if (i + 1) % _LOREM_PARAGRAPH_WORDS == 0 else " ")
        for i, word in enumerate(words)
    )
    return text.rstrip()


def _echo(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    content, finish = _capped(split_words(_last_user_text(body["messages"])), body)
    return ReplyPlan(content=content, finish_reason=finish)


def _lorem(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    cap = _max_tokens(body)
    rate = ref.option_float("rate", _DEFAULT_LOREM_RATE, positive=True)
    # An explicit max_tokens is what stopped the words, so the reply hit its cap.
    finish = "stop" if cap is None else "length"
    tokens = tuple(_lorem_tokens(cap or _DEFAULT_LOREM_WORDS))
    return ReplyPlan(content=tokens, finish_reason=finish, interval_s=1.0 / rate)


def _slow_start(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    delay_s = ref.option_float("delay", _DEFAULT_SLOW_START_S)
    return dataclasses.replace(_echo(ref, body), delay_s=delay_s)


def _few_words(ending: Ending) -> ReplyPlan:
    return ReplyPlan(content=tuple(_lorem_tokens(_FEW_WORDS)), ending=ending)


def _stall(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    return _few_words(Ending.STALL)


def _midstream_error(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    return _few_words(Ending.ERROR)


def _drop(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    return _few_words(Ending.DROP_CLEAN if ref.option_flag("clean") else Ending.DROP)


def _reasoning(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    content, finish = _capped(split_words(_REASONING_ANSWER), body)
    return ReplyPlan(content=content, reasoning=tuple(split_words(_REASONING_TEXT)), finish_reason=finish)


def _malformed(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    content, finish = _capped(split_words(_MALFORMED_TEXT), body)
    return ReplyPlan(content=content, finish_reason=finish, malformed_after=0)


def _utf8(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    content, finish = _capped(split_words(_UTF8_TEXT), body)
    # A few ms between writes so the two halves arrive as separate reads.
    return ReplyPlan(content=content, finish_reason=finish, split_utf8=True, interval_s=0.01)


def hostile_markdown(origin: str) -> str:
    """A reply that tries every way Markdown and HTML have to make a viewer fetch or run something.

    Every URL points at `origin` (the fake server itself, so a test sees any
    fetch in its request log) under a path outside the API: `/pixel.png`,
    `/img.png`, `/style.css`, `/frame.html`, `/script.js`, `/font.woff`,
    `/bg.png`, `/table.png`, `/ref.png`, `/nested.png`, ... and the links
    `/track` (text differs from the URL), `/deceptive` (its text is another
    URL, `/safe`), `/anchor` (raw HTML) and `/plain` (an autolink: its text is
    its URL).
    """
    o = origin.rstrip("/")
    return (
        "# Totally normal answer\n\n"
        f"![x]({o}/pixel.png)\n\n"
        f'<img src="{o}/img.png" onerror="fetch(\'{o}/onerror\')">\n\n'
        f'<link rel=stylesheet href="{o}/style.css">\n\n'
        f'<iframe src="{o}/frame.html"></iframe>\n\n'
        f'<script src="{o}/script.js">fetch("{o}/script-fetch")</script>\n\n'
        f"<style>@font-face{{font-family:evil;src:url({o}/font.woff)}} "
        f"p{{background-image:url({o}/bg.png)}}</style>\n\n"
        f'<table background="{o}/table.png"><tr><td>cell</td></tr></table>\n\n'
        f'<p style="background-image:url({o}/style-attr.png)">styled</p>\n\n'
        f'<a href="{o}/anchor">raw html link</a>\n\n'
        f"[innocent text]({o}{HOSTILE_TRACK_PATH})\n\n"
        f"[{o}/safe]({o}/deceptive)\n\n"
        f"[![nested]({o}/nested.png)]({o}/nested-link)\n\n"
        "![reference image][pic]\n\n"
        f"[pic]: {o}/ref.png\n\n"
        f"<{o}/plain>\n\n"
        "[run me](javascript:alert(1)) and [data](data:text/html,<script>alert(1)</script>)\n"
    )


def _hostile(origin: str) -> ReplyPlan:
    return ReplyPlan(content=tuple(split_words(hostile_markdown(origin))))


def _huge(ref: ModelRef, body: JsonObject) -> ReplyPlan:
    """`kb` KiB of lorem paragraphs (default 1024) in `chunk`-character deltas at `rate` deltas/s."""
    size = int(ref.option_float("kb", _DEFAULT_HUGE_KB, positive=True) * 1024)
    chunk = max(1, int(ref.option_float("chunk", _DEFAULT_HUGE_CHUNK, positive=True)))
    rate = ref.option_float("rate", _DEFAULT_HUGE_RATE, positive=True)
    words = size // 5 + _LOREM_PARAGRAPH_WORDS  # lorem words average over 6 characters
    text = _lorem_text(words)[:size]
    content = tuple(text[i : i + chunk] for i in range(0, len(text), chunk))
    return ReplyPlan(content=content, interval_s=1.0 / rate)


_PLANNERS: Final = {
    "fake/echo": _echo,
    "fake/lorem": _lorem,
    "fake/slow-start": _slow_start,
    "fake/stall": _stall,
    "fake/midstream-error": _midstream_error,
    "fake/drop": _drop,
    "fake/reasoning": _reasoning,
    "fake/malformed": _malformed,
    "fake/utf8": _utf8,
    "fake/huge": _huge,
}


def plan_reply(
    ref: ModelRef, body: JsonObject, *, is_listed: bool, origin: str = _DEFAULT_ORIGIN
) -> ReplyPlan | ErrorReply:
    """Decide the reply for a valid chat request.

    `body` must already have a non-empty `messages` list. `is_listed` says the
    model is in the current catalogue; such non-scenario models echo. `origin`
    is the server's own `http://127.0.0.1:PORT`, where `fake/hostile` points.
    Raises ValueError for bad options or parameters (the caller answers 400).
    """
    status_match = _HTTP_SCENARIO.fullmatch(ref.base)
    if status_match and 400 <= int(status_match.group(1)) <= 599:
        status = int(status_match.group(1))
        retry_after_s = _DEFAULT_RETRY_AFTER_429_S if status == 429 else None
        if "retry_after" in ref.options:
            retry_after_s = ref.option_float("retry_after", 0.0)
        return error_for_status(status, ref.model_id, retry_after_s)
    if ref.base == "fake/hostile":
        return _hostile(origin)
    planner = _PLANNERS.get(ref.base)
    if planner is not None:
        return planner(ref, body)
    if is_listed:
        return _echo(ref, body)
    return error_for_status(404, ref.model_id, None)


def error_body(status: int, message: str, metadata: JsonObject | None = None) -> JsonObject:
    """Build OpenRouter's error body (§6); `metadata` is left out when None."""
    error: JsonObject = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return {"error": error}


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


def _moderation_metadata(model: str) -> JsonObject:
    # §6: flagged_input is at most 100 chars, middle-truncated with "...".
    return {
        "reasons": ["harassment"],
        "flagged_input": "You are a terrible, terr...ble assistant",
        "provider_name": "OpenAI",
        "model_slug": model,
    }


def _status_message(status: int, model: str) -> tuple[str, JsonObject | None]:
    """Return a realistic message and metadata for a status (wording seen in the wild)."""
    table: dict[int, tuple[str, JsonObject | None]] = {
        400: (
            "This endpoint's maximum context length is 8192 tokens. However, you requested "
            "about 9000 tokens (8000 of text input, 1000 in the output). Please reduce the "
            "length of either one.",
            {"error_type": "context_length_exceeded"},
        ),
        401: ("User not found.", None),
        402: (
            "This request requires more credits, or fewer max_tokens. You requested up to "
            "4096 tokens, but can only afford 1000. To increase, visit "
            "https://openrouter.ai/settings/credits and upgrade to a paid account",
            {"provider_name": None},
        ),
        403: (
            f"{model} requires moderation on OpenAI. Your input was flagged for "
            '"harassment". No credits were charged.',
            _moderation_metadata(model),
        ),
        404: (f"No endpoints found for {model}.", None),
        408: ("Request timed out. Please try again.", {"error_type": "timeout"}),
        429: (
            f"{model} is temporarily rate-limited upstream. Please retry shortly.",
            {"error_type": "rate_limit_exceeded", "provider_name": "Fake", "raw": "Too Many Requests"},
        ),
        500: ("Internal Server Error", None),
        502: (
            "Provider returned error",
            {"provider_name": "Fake", "raw": '{"error":{"message":"upstream connect error"}}'},
        ),
        503: (
            "No allowed providers are available for the selected model.",
            {"error_type": "provider_unavailable"},
        ),
        504: ("Provider timed out", {"error_type": "timeout"}),
        529: ("Provider is overloaded", {"error_type": "provider_overloaded"}),
    }
    return table.get(status, (f"Fake error {status}", None))


def error_for_status(status: int, model: str, retry_after_s: float | None) -> ErrorReply:
    """Build the error reply a real OpenRouter would give for `status` on `model`."""
    message, metadata = _status_message(status, model)
    headers: dict[str, str] = {}
    if retry_after_s is not None:
        headers["Retry-After"] = _format_seconds(retry_after_s)
    if status == 429:
        # §6: OpenRouter's own limit errors carry these; clients should not need them.
        reset_ms = int((time.time() + (retry_after_s or 0)) * 1000)
        headers |= {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)}
    return ErrorReply(status=status, body=error_body(status, message, metadata), headers=headers)


def _model_entry(
    model_id: str,
    name: str,
    *,
    price: tuple[str, str],
    context_length: int = 128000,
    max_completion_tokens: int | None = 16384,
    supported: tuple[str, ...] = ("max_tokens", "temperature", "top_p", "stop", "seed"),
    default_parameters: JsonObject | None = None,
    input_modalities: tuple[str, ...] = ("text",),
) -> JsonObject:
    """One catalogue entry in the full §7 shape; prices are USD-per-token strings."""
    modality = "+".join(input_modalities) + "->text"
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "name": name,
        "created": 1735689600,
        "description": f"{name} (served by the fake OpenRouter test server).",
        "context_length": context_length,
        "architecture": {
            "modality": modality,
            "input_modalities": list(input_modalities),
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": price[0],
            "completion": price[1],
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
            "input_cache_read": "0",
        },
        "top_provider": {
            "context_length": context_length,
            "max_completion_tokens": max_completion_tokens,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": list(supported),
        "default_parameters": default_parameters,
        "expiration_date": None,
    }


_FAKE_PRICE: Final = ("0.000001", "0.000002")


def default_models() -> list[JsonObject]:
    """Return a fresh copy of the default catalogue: every scenario plus real-looking models."""
    fakes = [_model_entry(i, f"Fake: {i.removeprefix('fake/')}", price=_FAKE_PRICE) for i in SCENARIO_IDS]
    fakes += [
        _model_entry(f"fake/http-{c}", f"Fake: HTTP {c}", price=_FAKE_PRICE) for c in _LISTED_HTTP_CODES
    ]
    sampling = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "frequency_penalty",
                "presence_penalty", "repetition_penalty", "stop", "seed")  # fmt: skip
    return fakes + [
        _model_entry(
            "openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", price=("0.00000015", "0.0000006"),
            supported=("max_tokens", "temperature", "top_p", "frequency_penalty", "presence_penalty",
                       "stop", "seed", "tools", "response_format", "structured_outputs"),
            input_modalities=("text", "image"),
        ),  # fmt: skip
        _model_entry(
            "anthropic/claude-3.5-haiku", "Anthropic: Claude 3.5 Haiku", price=("0.0000008", "0.000004"),
            context_length=200000, max_completion_tokens=8192,
            supported=("max_tokens", "temperature", "top_p", "top_k", "stop", "tools"),
        ),  # fmt: skip
        _model_entry(
            "meta-llama/llama-3.1-8b-instruct:free", "Meta: Llama 3.1 8B Instruct (free)", price=("0", "0"),
            context_length=131072, max_completion_tokens=None, supported=sampling,
            default_parameters={"temperature": 0.6, "top_p": 0.9, "top_k": None, "frequency_penalty": None,
                                "presence_penalty": None, "repetition_penalty": None},
        ),  # fmt: skip
        _model_entry(
            "deepseek/deepseek-r1", "DeepSeek: R1", price=("0.0000004", "0.000002"),
            context_length=163840, max_completion_tokens=None, supported=(*sampling, "reasoning"),
            default_parameters={"temperature": 0.6, "top_p": 0.95, "top_k": None, "frequency_penalty": None,
                                "presence_penalty": None, "repetition_penalty": None},
        ),  # fmt: skip
    ]


# §3: the parameters endpoint's usage percentiles (p10, p50, p90), as older
# responses carried them. Only some models have them, so clients can test both.
_PERCENTILES: Final[dict[str, dict[str, tuple[float, float, float]]]] = {
    "openai/gpt-4o-mini": {
        "temperature": (0.2, 0.7, 1.0),
        "top_p": (0.9, 1.0, 1.0),
        "frequency_penalty": (0.0, 0.0, 0.5),
        "presence_penalty": (0.0, 0.0, 0.6),
    },
    "anthropic/claude-3.5-haiku": {
        "temperature": (0.3, 0.7, 1.0),
        "top_p": (0.8, 0.95, 1.0),
        "top_k": (0.0, 40.0, 100.0),
    },
}


def parameters_data(entry: JsonObject) -> JsonObject:
    """Return the `data` of GET /parameters/{author}/{slug} (§3) for a catalogue entry.

    Always `model` and `supported_parameters`; `<key>_p10/_p50/_p90` only for
    the models in `_PERCENTILES`.
    """
    model_id = entry.get("id")
    data: JsonObject = {"model": model_id, "supported_parameters": list(entry.get("supported_parameters") or [])}
    for key, (p10, p50, p90) in _PERCENTILES.get(str(model_id), {}).items():
        data |= {f"{key}_p10": p10, f"{key}_p50": p50, f"{key}_p90": p90}
    return data


def cost_usd(model: JsonObject | None, prompt: int, completion: int) -> float:
    """Price a reply from a catalogue entry's pricing strings (§7); unknown models are free."""
    pricing = model.get("pricing") if model else None
    if not isinstance(pricing, dict):
        return 0.0
    total = (
        Decimal(str(pricing.get("prompt", "0"))) * prompt
        + Decimal(str(pricing.get("completion", "0"))) * completion
        + Decimal(str(pricing.get("request", "0")))
    )
    return float(total)
