"""Tests for chatroom.core.catalog: parsing both /models shapes, prices, the cache, fetching.

Fetching talks to the real fake OpenRouter on 127.0.0.1 (STYLE.md rule 15).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chatroom.core import paths
from chatroom.core.catalog import (
    MAX_AGE_S,
    PER_MILLION,
    Catalog,
    CatalogCache,
    ModelInfo,
    NoCatalogue,
    Pricing,
    Recommended,
    fetch_catalog,
    fetch_recommended,
    parse_models,
    parse_recommended,
)
from chatroom.core.client import ChatClient
from chatroom.core.errors import (
    AuthError,
    MalformedResponse,
    ModelNotFound,
    NetworkError,
    ServerError,
)
from chatroom.core.secrets import ApiKey
from tests.conftest import TEST_KEY
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import default_models

T = TypeVar("T")

# §9: what local servers list (llama.cpp adds meta, vLLM max_model_len).
OLLAMA: dict[str, Any] = {"id": "llama3.2:3b", "object": "model", "created": 1730000000, "owned_by": "library"}
LLAMA_CPP: dict[str, Any] = {
    "id": "models/qwen2.5-7b-instruct-q4_k_m.gguf", "object": "model", "created": 1730000000,
    "owned_by": "llamacpp",
    "meta": {"vocab_type": 2, "n_vocab": 152064, "n_ctx_train": 32768, "n_embd": 3584,
             "n_params": 7615616512, "size": 4677120000},
}  # fmt: skip
VLLM: dict[str, Any] = {
    "id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "created": 1730000000, "owned_by": "vllm",
    "root": "Qwen/Qwen2.5-7B-Instruct", "parent": None, "max_model_len": 8192, "permission": [],
}  # fmt: skip


def run(make: Callable[[ChatClient], Awaitable[T]], base_url: str, key: str | None = TEST_KEY) -> T:
    """Run one coroutine against a fresh client, closing the client afterwards."""

    async def main() -> T:
        client = ChatClient(base_url, ApiKey(key) if key is not None else None)
        try:
            return await make(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def openrouter_models() -> dict[str, ModelInfo]:
    return {m.id: m for m in parse_models("openrouter", default_models())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- parsing


def test_parses_openrouters_full_shape() -> None:
    model = openrouter_models()["openai/gpt-4o-mini"]
    assert model == ModelInfo(
        id="openai/gpt-4o-mini",
        name="OpenAI: GPT-4o-mini",
        endpoint="openrouter",
        context_length=128000,
        max_output=16384,
        pricing=Pricing(Decimal("0.00000015"), Decimal("0.0000006"), Decimal(0)),
        input_modalities=("text", "image"),
        output_modalities=("text",),
        supported_parameters=frozenset({"max_tokens", "temperature", "top_p", "frequency_penalty",
                                        "presence_penalty", "stop", "seed", "tools", "response_format",
                                        "structured_outputs"}),  # fmt: skip
        default_parameters={},
    )
    assert not model.is_free
    assert hash(model) == hash(openrouter_models()["openai/gpt-4o-mini"])


def test_supports_follows_the_list_when_there_is_one() -> None:
    models = openrouter_models()
    gpt, haiku = models["openai/gpt-4o-mini"], models["anthropic/claude-3.5-haiku"]
    assert not gpt.supports("top_k") and haiku.supports("top_k")
    # OpenRouter lists these too, so they are looked up like any other key.
    assert gpt.supports("max_tokens") and gpt.supports("seed") and gpt.supports("stop")
    assert not haiku.supports("seed") and not haiku.supports("min_p")


def test_default_parameters_keep_numbers_and_drop_nulls() -> None:
    model = openrouter_models()["meta-llama/llama-3.1-8b-instruct:free"]
    assert model.default_parameters == {"temperature": 0.6, "top_p": 0.9}
    assert model.max_output is None and model.context_length == 131072
    assert model.is_free


@pytest.mark.parametrize(
    ("entry", "context_length"),
    [(OLLAMA, None), (LLAMA_CPP, 32768), (VLLM, 8192)],
    ids=["ollama", "llama.cpp", "vllm"],
)
def test_parses_local_servers_minimal_shape(entry: dict[str, Any], context_length: int | None) -> None:
    [model] = parse_models("local", [entry])
    assert model == ModelInfo(id=entry["id"], name=entry["id"], endpoint="local", context_length=context_length)
    assert (model.max_output, model.pricing, model.input_modalities, model.output_modalities) == (None, None, (), ())
    assert model.supported_parameters is None and model.default_parameters == {}
    # Unknown means allowed: a local server takes every parameter it understands.
    assert model.supports("top_k") and model.supports("repetition_penalty")
    assert not model.is_free  # unknown prices are not "free"


def test_context_length_falls_back_to_the_top_provider() -> None:
    [model] = parse_models("x", [{"id": "a", "context_length": None, "top_provider": {"context_length": 4096}}])
    assert model.context_length == 4096


def test_malformed_entries_are_skipped() -> None:
    raw: list[Any] = [
        {"name": "no id"}, {"id": 5}, {"id": ""}, {"id": "   "}, "a string", None, [],
        {"id": "good/one"}, {"id": "good/one", "name": "a repeat"}, {"id": "good/two"},
    ]  # fmt: skip
    assert [m.id for m in parse_models("x", raw)] == ["good/one", "good/two"]
    assert parse_models("x", raw)[0].name == "good/one"
    assert parse_models("x", []) == []


def test_missing_null_and_ill_typed_fields_become_unknown() -> None:
    entry = {
        "id": "odd/model", "name": None, "context_length": "big", "top_provider": None,
        "architecture": {"input_modalities": "text", "output_modalities": ["text", 3]},
        "pricing": {"prompt": "abc", "completion": "0"}, "supported_parameters": "temperature",
        "default_parameters": {"temperature": "hot", "top_p": True, "top_k": 40, "min_p": float("nan"), "7": 1},
        "something_new": {"nested": [1, 2]}, "expiration_date": "2027-01-01",
    }  # fmt: skip
    [model] = parse_models("x", [entry])
    assert model == ModelInfo(
        id="odd/model", name="odd/model", endpoint="x",
        output_modalities=("text",), default_parameters={"top_k": 40.0, "7": 1.0},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pricing", "expected"),
    [
        ({"prompt": "0.0000025", "completion": "0.00001", "request": "0.001"},
         Pricing(Decimal("0.0000025"), Decimal("0.00001"), Decimal("0.001"))),
        ({"prompt": "0", "completion": "0"}, Pricing(Decimal(0), Decimal(0))),
        ({"prompt": 0.000001, "completion": 2}, Pricing(Decimal("0.000001"), Decimal(2))),
        ({"prompt": " 0.5 ", "completion": "1", "request": "oops"}, Pricing(Decimal("0.5"), Decimal(1))),
        ({"prompt": "-1", "completion": "-1"}, None),  # OpenRouter's auto router: variable
        ({"prompt": "NaN", "completion": "0"}, None),
        ({"prompt": "Infinity", "completion": "0"}, None),
        ({"prompt": True, "completion": "0"}, None),
        ({"prompt": None, "completion": "0"}, None),
        ({"completion": "0"}, None),
        ("free", None),
        (None, None),
    ],
)  # fmt: skip
def test_prices_are_read_as_decimals(pricing: object, expected: Pricing | None) -> None:
    [model] = parse_models("x", [{"id": "m", "pricing": pricing}])
    assert model.pricing == expected


# ---------------------------------------------------------------- prices


def test_price_arithmetic_is_exact() -> None:
    haiku = openrouter_models()["anthropic/claude-3.5-haiku"].pricing
    assert haiku is not None
    cost = haiku.cost(1234, 0)
    assert isinstance(cost, Decimal) and cost == Decimal("0.0009872")
    assert str(cost) == "0.0009872"  # no float on the way: no 0.00098719999...
    assert haiku.per_million() == (Decimal("0.8"), Decimal("4"))
    assert PER_MILLION == Decimal(1_000_000)


def test_cost_adds_prompt_completion_and_request() -> None:
    # §7's worked example, plus a per-request fee.
    pricing = Pricing(Decimal("0.0000025"), Decimal("0.00001"))
    assert pricing.cost(1200, 350) == Decimal("0.0065")
    assert Pricing(Decimal("0.0000025"), Decimal("0.00001"), Decimal("0.01")).cost(1200, 350) == Decimal("0.0165")
    assert pricing.cost(0, 0) == 0


# ---------------------------------------------------------------- Catalog


def make_catalog(fetched_at: float = 1_000_000.0) -> Catalog:
    return Catalog("openrouter", parse_models("openrouter", default_models()), fetched_at)


def test_find_by_exact_id() -> None:
    catalog = make_catalog()
    found = catalog.find("anthropic/claude-3.5-haiku")
    assert found is not None and found.name == "Anthropic: Claude 3.5 Haiku"
    assert catalog.find("anthropic/claude") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("claude haiku", ["anthropic/claude-3.5-haiku"]),
        ("HAIKU Anthropic", ["anthropic/claude-3.5-haiku"]),
        ("openai mini", ["openai/gpt-4o-mini"]),
        ("llama free", ["meta-llama/llama-3.1-8b-instruct:free"]),
        ("deepseek: r1", ["deepseek/deepseek-r1"]),  # matches the name "DeepSeek: R1"
        ("claude gpt", []),
    ],
)
def test_search_needs_every_word_in_id_or_name(text: str, expected: list[str]) -> None:
    assert [m.id for m in make_catalog().search(text)] == expected


def test_empty_search_lists_everything() -> None:
    catalog = make_catalog()
    assert catalog.search("") == catalog.search("   ") == catalog.models


def test_is_stale_after_a_day() -> None:
    catalog = make_catalog(fetched_at=1_000_000.0)
    assert not catalog.is_stale(now=1_000_000.0 + 23 * 3600)
    assert not catalog.is_stale(now=1_000_000.0 + MAX_AGE_S)
    assert catalog.is_stale(now=1_000_000.0 + 25 * 3600)
    assert make_catalog(fetched_at=0.0).is_stale()
    assert not Catalog("x", [], fetched_at=time.time()).is_stale()


# ---------------------------------------------------------------- percentiles


def test_parse_recommended_reads_complete_triples() -> None:
    data = {
        "model": "a/b", "supported_parameters": ["temperature"],
        "temperature_p10": 0.2, "temperature_p50": 0.7, "temperature_p90": 1,
        "top_k_p10": 0, "top_k_p50": 40, "top_k_p90": 100,
        "top_p_p10": 0.9, "top_p_p50": 1.0,  # no p90: left out
        "min_p_p10": None, "min_p_p50": 0.1, "min_p_p90": 0.2,  # a null: left out
        "top_a_p10": True, "top_a_p50": 0.0, "top_a_p90": 0.0,  # a bool: left out
    }  # fmt: skip
    recommended = parse_recommended(data)
    assert recommended == Recommended({"temperature": (0.2, 0.7, 1.0), "top_k": (0.0, 40.0, 100.0)})
    assert recommended.p50() == {"temperature": 0.7, "top_k": 40.0}


@pytest.mark.parametrize(
    "data",
    [{}, {"model": "a/b", "supported_parameters": ["temperature"]}, {"temperature_p50": 0.7}],
)
def test_parse_recommended_without_percentiles_is_none(data: dict[str, object]) -> None:
    assert parse_recommended(data) is None


# ---------------------------------------------------------------- the cache file


def local_catalog() -> Catalog:
    return Catalog("local", parse_models("local", [OLLAMA, LLAMA_CPP, VLLM]), 1_700_000_000.5, error="Cannot reach x")


def test_cache_round_trip(tmp_path: Path) -> None:
    catalogs = {"openrouter": make_catalog(1_700_000_123.25), "local": local_catalog()}
    cache = CatalogCache(tmp_path / "deep" / "models.json")
    cache.save(catalogs)
    assert cache.load() == catalogs
    stored = json.loads(cache.path.read_text(encoding="utf-8"))
    [haiku] = [m for m in stored["catalogs"]["openrouter"]["models"] if m["id"] == "anthropic/claude-3.5-haiku"]
    assert haiku["pricing"] == {"prompt": "0.0000008", "completion": "0.000004", "request": "0"}


def test_cache_keeps_unknown_fields_unknown_and_empty_lists_empty(tmp_path: Path) -> None:
    odd = ModelInfo("m", "M", "e", supported_parameters=frozenset(), input_modalities=("text",))
    cache = CatalogCache(tmp_path / "models.json")
    cache.save({"e": Catalog("e", [odd], 5.0)})
    [loaded] = cache.load()["e"].models
    assert loaded == odd and not loaded.supports("temperature")


def test_save_replaces_the_whole_file(tmp_path: Path) -> None:
    cache = CatalogCache(tmp_path / "models.json")
    cache.save({"openrouter": make_catalog(), "local": local_catalog()})
    cache.save({"local": local_catalog()})
    assert list(cache.load()) == ["local"]


def test_missing_cache_is_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert CatalogCache(tmp_path / "nowhere" / "models.json").load() == {}
    assert caplog.records == []


@pytest.mark.parametrize(
    "content",
    [
        b"", b"{not json", b"\xff\xfe\x00", b"[]", b'"models"', b"null",
        b'{"format": "chatroom.models", "version": 2, "catalogs": {}}',
        b'{"format": "other", "version": 1, "catalogs": {}}',
        b'{"format": "chatroom.models", "version": 1, "catalogs": {"x": {"models": []}}}',
        b'{"format": "chatroom.models", "version": 1, "catalogs": {"x": {"fetched_at": "now", "models": []}}}',
        b'{"format": "chatroom.models", "version": 1, "catalogs": {"x": {"fetched_at": 1, "models": {}}}}',
        b'{"format": "chatroom.models", "version": 1, "catalogs": {"x": []}}',
    ],
)  # fmt: skip
def test_corrupt_cache_is_ignored_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes) -> None:
    path = tmp_path / "models.json"
    path.write_bytes(content)
    caplog.set_level(logging.INFO, logger="chatroom.core.catalog")
    assert CatalogCache(path).load() == {}
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "corrupt model cache" in caplog.text


def test_cache_entries_that_are_not_models_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    document = {"format": "chatroom.models", "version": 1,
                "catalogs": {"x": {"fetched_at": 3, "error": 7, "models": [{"id": "ok"}, "junk", {"no": "id"}]}}}  # fmt: skip
    path.write_text(json.dumps(document), encoding="utf-8")
    assert CatalogCache(path).load() == {"x": Catalog("x", [ModelInfo("ok", "ok", "x")], 3.0)}


def test_unreadable_cache_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "models.json"
    path.mkdir()  # reading a directory raises an OSError that is not FileNotFoundError
    caplog.set_level(logging.INFO, logger="chatroom.core.catalog")
    assert CatalogCache(path).load() == {}
    assert "Ignoring the model cache" in caplog.text


def test_unwritable_cache_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = CatalogCache(blocker / "models.json")
    cache.save({"local": local_catalog()})
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert cache.load() == {}


# ---------------------------------------------------------------- fetching from the fake server


def test_fetch_catalog_from_the_server(fake_server: FakeOpenRouter) -> None:
    before = time.time()
    catalog = run(lambda c: fetch_catalog(c, "openrouter"), fake_server.base_url)
    assert catalog.endpoint == "openrouter" and catalog.error is None
    assert before <= catalog.fetched_at <= time.time()
    assert [m.id for m in catalog.models] == [m["id"] for m in default_models()]
    assert catalog == Catalog("openrouter", openrouter_models_list(), catalog.fetched_at)
    [request] = fake_server.requests
    assert (request.method, request.path) == ("GET", "/api/v1/models")


def openrouter_models_list() -> list[ModelInfo]:
    return list(openrouter_models().values())


def test_fetch_catalog_from_a_local_server(fake_server: FakeOpenRouter) -> None:
    fake_server.set_models([OLLAMA, {"object": "model"}, VLLM])
    catalog = run(lambda c: fetch_catalog(c, "local"), fake_server.local_base_url)
    assert [(m.id, m.endpoint, m.context_length) for m in catalog.models] == [
        ("llama3.2:3b", "local", None),
        ("Qwen/Qwen2.5-7B-Instruct", "local", 8192),
    ]


def test_models_404_says_there_is_no_catalogue(fake_server: FakeOpenRouter) -> None:
    fake_server.models_status = 404
    with pytest.raises(NoCatalogue) as caught:
        run(lambda c: fetch_catalog(c, "gateway"), fake_server.base_url)
    assert isinstance(caught.value, ModelNotFound) and caught.value.status == 404
    assert str(caught.value) == "This endpoint has no model catalogue (/models answered 404)."


def test_malformed_models_is_a_malformed_response(fake_server: FakeOpenRouter) -> None:
    fake_server.models_body = b"{not json"
    with pytest.raises(MalformedResponse, match="/models did not return a list"):
        run(lambda c: fetch_catalog(c, "openrouter"), fake_server.base_url)


def test_models_server_error_is_raised_as_such(fake_server: FakeOpenRouter) -> None:
    fake_server.models_status = 500
    with pytest.raises(ServerError):
        run(lambda c: fetch_catalog(c, "openrouter"), fake_server.base_url)
    fake_server.reset()
    assert run(lambda c: fetch_catalog(c, "openrouter"), fake_server.base_url).models


def test_offline_the_cache_still_answers() -> None:
    cache = CatalogCache(paths.models_cache_path())
    with FakeOpenRouter(api_key=TEST_KEY) as server:
        base_url = server.base_url
        fresh = run(lambda c: fetch_catalog(c, "openrouter"), base_url)
        cache.save({"openrouter": fresh})
    with pytest.raises(NetworkError) as caught:
        run(lambda c: fetch_catalog(c, "openrouter"), base_url)
    # What the app does: keep the cached models and say why they were not refreshed.
    cached = cache.load()["openrouter"]
    cached.error = str(caught.value)
    assert cached.models == fresh.models and cached.fetched_at == fresh.fetched_at
    assert cached.error.startswith("Cannot reach 127.0.0.1:")


# ---------------------------------------------------------------- recommended values


def test_fetch_recommended_gives_percentiles(fake_server: FakeOpenRouter) -> None:
    gpt = run(lambda c: fetch_recommended(c, "openai/gpt-4o-mini"), fake_server.base_url)
    haiku = run(lambda c: fetch_recommended(c, "anthropic/claude-3.5-haiku"), fake_server.base_url)
    assert gpt is not None and haiku is not None
    assert gpt.percentiles["temperature"] == (0.2, 0.7, 1.0) and "top_k" not in gpt.percentiles
    assert haiku.p50() == {"temperature": 0.7, "top_p": 0.95, "top_k": 40.0}
    assert [r.path for r in fake_server.requests] == [
        "/api/v1/parameters/openai/gpt-4o-mini",
        "/api/v1/parameters/anthropic/claude-3.5-haiku",
    ]


def test_fetch_recommended_is_none_without_percentiles(fake_server: FakeOpenRouter) -> None:
    # Listed, so the endpoint answers, but with supported_parameters only.
    data = run(lambda c: c.get_parameters("fake/echo"), fake_server.base_url)
    assert data == {"model": "fake/echo", "supported_parameters": ["max_tokens", "temperature", "top_p", "stop", "seed"]}
    assert run(lambda c: fetch_recommended(c, "fake/echo"), fake_server.base_url) is None


def test_fetch_recommended_is_none_when_the_endpoint_answers_404(fake_server: FakeOpenRouter) -> None:
    assert run(lambda c: fetch_recommended(c, "nobody/knows"), fake_server.base_url) is None
    # The id is quoted: its "?" stays in the path instead of starting a query.
    assert run(lambda c: fetch_recommended(c, "fake/lorem?rate=5"), fake_server.base_url) is None
    assert fake_server.requests[-1].path == "/api/v1/parameters/fake/lorem%3Frate%3D5"
    assert fake_server.requests[-1].query == ""


def test_get_parameters_errors_raise_like_list_models(fake_server: FakeOpenRouter) -> None:
    with pytest.raises(AuthError):
        run(lambda c: c.get_parameters("openai/gpt-4o-mini"), fake_server.base_url, key="sk-or-v1-wrong")
    with pytest.raises(NetworkError):
        run(lambda c: c.get_parameters("openai/gpt-4o-mini"), f"http://127.0.0.1:{free_port()}/v1")
    # "#" turns the appended path into a fragment: this GETs /models, whose data is a list.
    with pytest.raises(MalformedResponse, match="/parameters did not return an object"):
        run(lambda c: c.get_parameters("openai/gpt-4o-mini"), fake_server.base_url + "/models#")


def test_parameters_endpoint_needs_the_key(fake_server: FakeOpenRouter) -> None:
    with pytest.raises(AuthError):
        run(lambda c: fetch_recommended(c, "openai/gpt-4o-mini"), fake_server.base_url, key=None)
