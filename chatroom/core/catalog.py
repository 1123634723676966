"""The model catalogue: what each endpoint offers, at what price, with which parameters.

`GET /models` comes in two shapes (openrouter-api.md §7 and §9): OpenRouter's
full one (pricing, context length, architecture, supported and default
parameters) and a local server's minimal `{id, object, owned_by}`, sometimes
with llama.cpp's `meta` or vLLM's `max_model_len`. `parse_models` reads both
and turns anything it does not know into "unknown" rather than an error, so a
single odd entry never hides the rest of the list.

Prices are decimal strings in USD per token and stay `Decimal` from the wire to
the screen: a float would turn 0.0000008 into 7.99999...e-07.

The catalogues of all endpoints share one JSON file in the cache directory,
written atomically; a missing or corrupt file is an empty cache, never a crash.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeGuard

from chatroom.core.atomicfile import write_atomic
from chatroom.core.errors import ModelNotFound

if TYPE_CHECKING:  # only for annotations: importing the client loads httpx (85 ms)
    from chatroom.core.client import ChatClient

__all__ = [
    "MAX_AGE_S",
    "PER_MILLION",
    "Catalog",
    "CatalogCache",
    "ModelInfo",
    "NoCatalogue",
    "Pricing",
    "Recommended",
    "fetch_catalog",
    "fetch_recommended",
    "parse_models",
    "parse_recommended",
]

log = logging.getLogger(__name__)

PER_MILLION: Final = Decimal(1_000_000)
#: A catalogue older than this is refreshed; prices and models change daily at most.
MAX_AGE_S: Final = 24 * 3600
_CACHE_FORMAT: Final = "chatroom.models"
_CACHE_VERSION: Final = 1
_PERCENTILES: Final = ("_p10", "_p50", "_p90")


@dataclass(frozen=True)
class Pricing:
    """A model's prices in USD per token (and per request), as OpenRouter lists them."""

    prompt: Decimal
    completion: Decimal
    request: Decimal = Decimal(0)

    def per_million(self) -> tuple[Decimal, Decimal]:
        """(input, output) in USD per million tokens, the unit people compare prices in."""
        return self.prompt * PER_MILLION, self.completion * PER_MILLION

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """The price of one request with these token counts (§7), exactly."""
        return prompt_tokens * self.prompt + completion_tokens * self.completion + self.request


@dataclass(frozen=True)
class ModelInfo:
    """One model of one endpoint's catalogue; None and () mean "the server did not say"."""

    id: str
    name: str
    endpoint: str
    context_length: int | None = None
    max_output: int | None = None
    pricing: Pricing | None = None
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    supported_parameters: frozenset[str] | None = None
    # Left out of the hash: a dict cannot be hashed, and the id already tells models apart.
    default_parameters: Mapping[str, float] = field(default_factory=dict, hash=False)

    def supports(self, param_key: str) -> bool:
        """Whether sending `param_key` has an effect; True when the server does not say.

        OpenRouter lists `max_tokens`, `stop` and `seed` too, so every key is
        looked up, with no exceptions.
        """
        return self.supported_parameters is None or param_key in self.supported_parameters

    @property
    def is_free(self) -> bool:
        """Whether the listed prices are all zero; False when prices are unknown."""
        p = self.pricing
        return p is not None and not (p.prompt or p.completion or p.request)


@dataclass(frozen=True)
class Recommended:
    """p10/p50/p90 per parameter key, from the parameters endpoint."""

    percentiles: Mapping[str, tuple[float, float, float]] = field(hash=False)

    def p50(self) -> dict[str, float]:
        """The median value other users send for each parameter: a "typical" setting."""
        return {key: p[1] for key, p in self.percentiles.items()}


@dataclass
class Catalog:
    """The models one endpoint offered at `fetched_at` (a time.time() value)."""

    endpoint: str
    models: list[ModelInfo]
    fetched_at: float
    #: Why the last refresh failed (shown in the picker); None when it worked.
    error: str | None = None

    def find(self, model_id: str) -> ModelInfo | None:
        """The model with this exact id, or None."""
        return next((m for m in self.models if m.id == model_id), None)

    def is_stale(self, now: float | None = None) -> bool:
        """Whether the catalogue is older than MAX_AGE_S."""
        return (time.time() if now is None else now) - self.fetched_at > MAX_AGE_S

    def search(self, text: str) -> list[ModelInfo]:
        """Models whose id or name contains every word of `text`, ignoring case."""
        words = text.lower().split()
        return [m for m in self.models if all(w in f"{m.id} {m.name}".lower() for w in words)]


class NoCatalogue(ModelNotFound):
    """/models answered 404: the endpoint offers no model list (some gateways and proxies)."""

    def _describe(self) -> str:
        return "This endpoint has no model catalogue (/models answered 404)."


# -- parsing ---------------------------------------------------------------


def parse_models(endpoint: str, raw: Sequence[Mapping[str, object]]) -> list[ModelInfo]:
    """ModelInfo for every usable entry of a /models `data` list, in its order.

    Reads OpenRouter's shape and local servers' (§9). Entries without a string
    id, and repeats of an id already seen, are skipped; missing, null or
    ill-typed fields become unknown.
    """
    models: list[ModelInfo] = []
    seen: set[str] = set()
    for entry in raw:
        model_id = entry.get("id") if isinstance(entry, Mapping) else None
        if not isinstance(model_id, str) or not model_id.strip() or model_id in seen:
            continue
        seen.add(model_id)
        models.append(_model_info(endpoint, model_id, entry))
    return models


def _model_info(endpoint: str, model_id: str, entry: Mapping[str, object]) -> ModelInfo:
    name = entry.get("name")
    architecture = _mapping(entry.get("architecture"))
    return ModelInfo(
        id=model_id,
        name=name if isinstance(name, str) and name.strip() else model_id,
        endpoint=endpoint,
        context_length=_context_length(entry),
        max_output=_positive_int(_mapping(entry.get("top_provider")).get("max_completion_tokens")),
        pricing=_pricing(entry.get("pricing")),
        input_modalities=_strings(architecture.get("input_modalities")),
        output_modalities=_strings(architecture.get("output_modalities")),
        supported_parameters=_supported(entry.get("supported_parameters")),
        default_parameters=_numbers(entry.get("default_parameters")),
    )


def _context_length(entry: Mapping[str, object]) -> int | None:
    """The context window, from whichever field this server uses.

    OpenRouter: `context_length` (or its top provider's); vLLM: `max_model_len`;
    llama.cpp: `meta.n_ctx_train`, the trained size, which the server's `-c`
    may lower (the true value is only in its /props).
    """
    candidates = (
        entry.get("context_length"),
        _mapping(entry.get("top_provider")).get("context_length"),
        entry.get("max_model_len"),
        _mapping(entry.get("meta")).get("n_ctx_train"),
    )
    return next((n for n in map(_positive_int, candidates) if n is not None), None)


def _pricing(value: object) -> Pricing | None:
    """Prices when both token prices are known; OpenRouter's "-1" (variable, e.g. its
    auto router) and anything unreadable mean unknown."""
    raw = _mapping(value)
    prompt, completion = _price(raw.get("prompt")), _price(raw.get("completion"))
    if prompt is None or completion is None:
        return None
    return Pricing(prompt, completion, _price(raw.get("request")) or Decimal(0))


def _price(value: object) -> Decimal | None:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    try:
        # str() first: Decimal(0.1) would keep the float's binary error.
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None


def _supported(value: object) -> frozenset[str] | None:
    if not isinstance(value, list):
        return None
    return frozenset(p for p in value if isinstance(p, str))


def _numbers(value: object) -> dict[str, float]:
    """Numeric values of a mapping; OpenRouter sends null for defaults it lacks."""
    return {
        key: float(v)
        for key, v in _mapping(value).items()
        if isinstance(key, str) and _is_number(v)
    }


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float; JSON's true and false are not numbers here."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def parse_recommended(data: Mapping[str, object]) -> Recommended | None:
    """Percentiles from the parameters endpoint's `data` (§3); None when it has none.

    A parameter counts only with all three numbers (`temperature_p10`,
    `temperature_p50`, `temperature_p90`).
    """
    keys = {k[: -len(_PERCENTILES[0])] for k in data if k.endswith(_PERCENTILES)}
    percentiles: dict[str, tuple[float, float, float]] = {}
    for key in sorted(keys):
        values = [data.get(key + suffix) for suffix in _PERCENTILES]
        numbers = [float(v) for v in values if _is_number(v)]
        if len(numbers) == len(_PERCENTILES):
            percentiles[key] = (numbers[0], numbers[1], numbers[2])
    return Recommended(percentiles) if percentiles else None


# -- fetching --------------------------------------------------------------


async def fetch_catalog(client: ChatClient, endpoint: str) -> Catalog:
    """Fetch and parse the endpoint's /models.

    Raises ChatroomError subclasses: NoCatalogue when /models answers 404,
    MalformedResponse when it is not a list, NetworkError when unreachable.
    """
    try:
        raw = await client.list_models()
    except ModelNotFound as exc:
        raise NoCatalogue(exc.status, exc.message, code=exc.code, metadata=exc.metadata) from None
    return Catalog(endpoint, parse_models(endpoint, raw), time.time())


async def fetch_recommended(client: ChatClient, model_id: str) -> Recommended | None:
    """The model's parameter percentiles; None when the endpoint has none to give."""
    data = await client.get_parameters(model_id)
    return None if data is None else parse_recommended(data)


# -- the cache file --------------------------------------------------------


class _CorruptCache(ValueError):
    """The cache file is not what save() writes."""


class CatalogCache:
    """All endpoints' catalogues in one JSON file (paths.models_cache_path()), written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Catalog]:
        """Every cached catalogue by endpoint; {} when the file is missing or unreadable.

        The cache can always be fetched again, so a corrupt file is logged at
        INFO and ignored (the next save replaces it).
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.info("Ignoring the model cache %s: %s", self.path, exc)
            return {}
        try:
            return _catalogs_from(json.loads(raw))
        except ValueError as exc:  # JSON, UTF-8 and shape errors alike
            log.info("Ignoring the corrupt model cache %s: %s", self.path, exc)
            return {}

    def save(self, catalogs: Mapping[str, Catalog]) -> None:
        """Replace the file with these catalogues (endpoints not given are dropped).

        A cache that cannot be written is not worth an error dialog: the
        failure is logged and the catalogue is fetched again next time.
        """
        document = {
            "format": _CACHE_FORMAT,
            "version": _CACHE_VERSION,
            "catalogs": {name: _catalog_json(c) for name, c in catalogs.items()},
        }
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            log.warning("Could not write the model cache %s: %s", self.path, exc)


def _catalog_json(catalog: Catalog) -> dict[str, object]:
    return {
        "fetched_at": catalog.fetched_at,
        "error": catalog.error,
        "models": [_model_json(m) for m in catalog.models],
    }


def _model_json(model: ModelInfo) -> dict[str, object]:
    """The model in OpenRouter's /models shape, so that parse_models reads it back."""
    p = model.pricing
    return {
        "id": model.id,
        "name": model.name,
        "context_length": model.context_length,
        "top_provider": {"max_completion_tokens": model.max_output},
        # format "f": plain digits, as OpenRouter writes them ("0.0000008", not "8E-7").
        "pricing": None if p is None else {
            "prompt": format(p.prompt, "f"),
            "completion": format(p.completion, "f"),
            "request": format(p.request, "f"),
        },
        "architecture": {
            "input_modalities": list(model.input_modalities),
            "output_modalities": list(model.output_modalities),
        },
        "supported_parameters": (
            None if model.supported_parameters is None else sorted(model.supported_parameters)
        ),
        "default_parameters": dict(model.default_parameters),
    }


def _catalogs_from(document: object) -> dict[str, Catalog]:
    doc = _mapping(document)
    if doc.get("format") != _CACHE_FORMAT or doc.get("version") != _CACHE_VERSION:
        raise _CorruptCache("not a version 1 model cache")
    return {str(name): _catalog_from(str(name), entry) for name, entry in _mapping(doc.get("catalogs")).items()}


def _catalog_from(endpoint: str, entry: object) -> Catalog:
    raw = _mapping(entry)
    fetched_at, models, error = raw.get("fetched_at"), raw.get("models"), raw.get("error")
    if not _is_number(fetched_at) or not isinstance(models, list):
        raise _CorruptCache(f"the catalogue of {endpoint!r} has no fetched_at or models")
    return Catalog(
        endpoint,
        parse_models(endpoint, [m for m in models if isinstance(m, Mapping)]),
        float(fetched_at),
        error if isinstance(error, str) else None,
    )
