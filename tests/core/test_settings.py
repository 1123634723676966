"""Tests for chatroom.core.settings: defaults, round trips, and forgiving loads."""

from __future__ import annotations

import json
import logging
import math
import stat
import sys
from pathlib import Path

import pytest

from chatroom.core.errors import SettingsError
from chatroom.core.secrets import ApiKey
from chatroom.core.settings import (
    DEFAULT_READ_TIMEOUT_S,
    MAX_RECENT_MODELS,
    OPENROUTER_URL,
    SETTINGS_VERSION,
    Endpoint,
    SavedSeat,
    Settings,
    load_settings,
    save_settings,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "chatroom" / "settings.json"


def write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")


def set_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def full_settings() -> Settings:
    return Settings(
        endpoints=[Endpoint("openrouter", OPENROUTER_URL), Endpoint("local", "http://127.0.0.1:8080/v1")],
        seats=[
            SavedSeat("openai/gpt-4o-mini"),
            SavedSeat("openai/gpt-4o-mini"),
            SavedSeat("my-model", "local", {"temperature": 0.2}),
        ],
        turn_budget_usd=0.05,
        layout="tabs",
        synced_scrolling=True,
        recent_models=["anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"],
        params={"temperature": 0.7, "max_tokens": 512, "stop": ["\n\n", "END"]},
        system_prompt="Answer briefly. Ünïcode ✓",
        window_geometry="AdnQywADAAA=",
        window_state="AAAA/wAAAAD9",
        splitter_state="AAAA/wAAAAEAAAAC",
        read_timeout_s=30.5,
    )


# ---------------------------------------------------------------- the dataclass


def test_defaults() -> None:
    settings = Settings()
    assert settings.endpoints == [Endpoint("openrouter", "https://openrouter.ai/api/v1")]
    assert settings.seats == []
    assert settings.recent_models == []
    assert settings.params == {}
    assert settings.system_prompt == ""
    assert settings.window_geometry == settings.window_state == settings.splitter_state == ""
    assert settings.read_timeout_s == DEFAULT_READ_TIMEOUT_S == 120.0


def test_defaults_are_not_shared_between_instances() -> None:
    first, second = Settings(), Settings()
    first.endpoints.append(Endpoint("local", "http://127.0.0.1:1/v1"))
    first.params["temperature"] = 0.1
    assert second.endpoints == [Endpoint("openrouter", OPENROUTER_URL)]
    assert second.params == {}


def test_endpoint_by_name() -> None:
    settings = full_settings()
    assert settings.endpoint("local").base_url == "http://127.0.0.1:8080/v1"
    with pytest.raises(KeyError):
        settings.endpoint("missing")


def test_remember_model_moves_it_to_the_front_without_duplicates() -> None:
    settings = Settings(recent_models=["a", "b", "c"])
    settings.remember_model("c")
    assert settings.recent_models == ["c", "a", "b"]
    settings.remember_model("d")
    assert settings.recent_models == ["d", "c", "a", "b"]


def test_remember_model_keeps_at_most_thirty() -> None:
    settings = Settings()
    for i in range(MAX_RECENT_MODELS + 5):
        settings.remember_model(f"m{i}")
    assert MAX_RECENT_MODELS == 30
    assert len(settings.recent_models) == 30
    assert settings.recent_models[0] == "m34"
    assert settings.recent_models[-1] == "m5"


def test_remember_model_refuses_an_empty_id() -> None:
    with pytest.raises(ValueError):
        Settings().remember_model("")


# ---------------------------------------------------------------- saving and loading


def test_a_missing_file_gives_defaults(path: Path) -> None:
    assert load_settings(path) == Settings()
    assert not path.parent.exists()


def test_round_trip(path: Path) -> None:
    save_settings(path, full_settings())
    assert load_settings(path) == full_settings()
    assert set_aside(path) == []


def test_the_file_is_sorted_indented_json_with_a_version(path: Path) -> None:
    save_settings(path, Settings())
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert document["version"] == SETTINGS_VERSION
    assert document["endpoints"] == [
        {"base_url": OPENROUTER_URL, "max_concurrent": None, "name": "openrouter"}
    ]
    assert document["read_timeout_s"] == 120.0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_the_file_is_private(path: Path) -> None:
    save_settings(path, Settings())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_saving_replaces_the_previous_file(path: Path) -> None:
    save_settings(path, full_settings())
    save_settings(path, Settings(system_prompt="second"))
    assert load_settings(path) == Settings(system_prompt="second")
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_unknown_keys_are_ignored(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_json(path, {"version": 99, "theme": "dark", "system_prompt": "kept"})
    assert load_settings(path) == Settings(system_prompt="kept")
    assert set_aside(path) == []
    assert caplog.records == []


def test_an_integer_timeout_is_read_as_float(path: Path) -> None:
    write_json(path, {"read_timeout_s": 60})
    settings = load_settings(path)
    assert settings.read_timeout_s == 60.0
    assert isinstance(settings.read_timeout_s, float)


def test_a_file_without_openrouter_gets_it_back(path: Path) -> None:
    write_json(path, {"endpoints": [{"name": "local", "base_url": "http://127.0.0.1:1/v1"}]})
    settings = load_settings(path)
    assert [e.name for e in settings.endpoints] == ["openrouter", "local"]
    assert settings.endpoint("openrouter").base_url == OPENROUTER_URL
    assert set_aside(path) == []


def test_the_first_endpoint_of_a_name_wins(path: Path) -> None:
    write_json(path, {"endpoints": [
        {"name": "openrouter", "base_url": "http://proxy/v1"},
        {"name": "openrouter", "base_url": "http://other/v1"},
    ]})
    assert load_settings(path).endpoints == [Endpoint("openrouter", "http://proxy/v1")]


def test_recent_models_are_deduplicated_and_capped_on_load(path: Path) -> None:
    write_json(path, {"recent_models": ["a", "b", "a", *[f"m{i}" for i in range(40)]]})
    recent = load_settings(path).recent_models
    assert recent[:3] == ["a", "b", "m0"]
    assert len(recent) == MAX_RECENT_MODELS


# ---------------------------------------------------------------- damaged files


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null",
     b'{"read_timeout_s": NaN}', b'{"params": {"temperature": Infinity}}'],
)
def test_an_unreadable_document_gives_defaults_and_is_set_aside(
    path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="chatroom.core.settings"):
        assert load_settings(path) == Settings()
    assert not path.exists()
    [backup] = set_aside(path)
    assert backup.read_bytes() == content  # nothing lost
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert backup.name in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("endpoints", "openrouter"),
        ("endpoints", [{"name": "x"}]),
        ("endpoints", [{"name": "", "base_url": "http://x"}]),
        ("endpoints", ["openrouter"]),
        ("seats", "openai/gpt-4o"),
        ("seats", ["a", 1]),
        ("seats", [{"endpoint": "local"}]),
        ("seats", [{"model": "m", "endpoint": ""}]),
        ("seats", [{"model": "m", "params": {"temperature": "hot"}}]),
        ("endpoints", [{"name": "x", "base_url": "http://x", "max_concurrent": 0}]),
        ("endpoints", [{"name": "x", "base_url": "http://x", "max_concurrent": True}]),
        ("layout", "spiral"),
        ("synced_scrolling", "yes"),
        ("turn_budget_usd", -1),
        ("recent_models", {"a": 1}),
        ("params", ["temperature"]),
        ("params", {"temperature": "hot"}),
        ("params", {"logprobs": True}),
        ("params", {"stop": ["a", 2]}),
        ("system_prompt", 42),
        ("window_geometry", None),
        ("window_state", ["x"]),
        ("splitter_state", 1.5),
        ("read_timeout_s", "120"),
        ("read_timeout_s", 0),
        ("read_timeout_s", -5.0),
        ("read_timeout_s", True),
    ],
)
def test_a_wrong_value_falls_back_to_its_default_and_keeps_the_rest(
    path: Path, field: str, bad: object, caplog: pytest.LogCaptureFixture
) -> None:
    good = full_settings()
    save_settings(path, good)
    document = json.loads(path.read_text(encoding="utf-8"))
    document[field] = bad
    original = json.dumps(document)
    path.write_text(original, encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="chatroom.core.settings"):
        loaded = load_settings(path)

    assert getattr(loaded, field) == getattr(Settings(), field)
    for other in vars(good):
        if other != field:
            assert getattr(loaded, other) == getattr(good, other), other
    [backup] = set_aside(path)
    assert backup.read_text(encoding="utf-8") == original
    assert field in caplog.text


def test_two_damaged_files_in_one_second_both_survive(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path.parent.mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="chatroom.core.settings"):
        for content in (b"first{", b"second{", b"third{"):
            path.write_bytes(content)
            load_settings(path)
    assert sorted(p.read_bytes() for p in set_aside(path)) == [b"first{", b"second{", b"third{"]


def test_a_directory_in_place_of_the_file_is_an_error(path: Path) -> None:
    path.mkdir(parents=True)
    with pytest.raises(SettingsError, match="Could not read"):
        load_settings(path)


# ---------------------------------------------------------------- refusing to save


@pytest.mark.parametrize(
    "settings",
    [
        Settings(params={"temperature": math.nan}),
        Settings(params={"temperature": math.inf}),
        Settings(read_timeout_s=0.0),
        Settings(params={"leak": ApiKey("sk-canary-do-not-save")}),  # type: ignore[dict-item]  # the point
        Settings(seats=[ApiKey("sk-canary-do-not-save")]),  # type: ignore[list-item]  # the point
    ],
)
def test_values_that_could_not_be_loaded_back_are_not_saved(path: Path, settings: Settings) -> None:
    save_settings(path, Settings(system_prompt="previous"))
    with pytest.raises(SettingsError, match="invalid values") as info:
        save_settings(path, settings)
    assert "sk-canary" not in str(info.value)
    assert load_settings(path) == Settings(system_prompt="previous")


def test_an_unwritable_location_is_a_settings_error(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_bytes(b"a file where a directory should be")
    with pytest.raises(SettingsError, match="Could not save settings"):
        save_settings(blocker / "chatroom" / "settings.json", Settings())


def test_seats_saved_as_bare_model_ids_load_on_the_default_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"seats": ["a/b", {"model": "c", "endpoint": "local"}]}))
    assert load_settings(path).seats == [SavedSeat("a/b"), SavedSeat("c", "local")]


@pytest.mark.parametrize(
    ("url", "limit"),
    [
        ("http://127.0.0.1:8080/v1", 1),
        ("http://localhost:11434/v1", 1),
        ("http://[::1]:1234/v1", 1),
        ("https://openrouter.ai/api/v1", None),
        ("http://192.168.1.5:8000/v1", None),
        ("not a url", None),
    ],
)
def test_local_servers_serve_one_request_at_a_time_by_default(url: str, limit: int | None) -> None:
    assert Endpoint("e", url).max_concurrent == limit


def test_an_explicit_limit_is_kept(path: Path) -> None:
    write_json(path, {"endpoints": [
        {"name": "local", "base_url": "http://127.0.0.1:8080/v1", "max_concurrent": None},
        {"name": "vllm", "base_url": "http://127.0.0.1:8000/v1", "max_concurrent": 4},
    ]})
    endpoints = {e.name: e for e in load_settings(path).endpoints}
    assert endpoints["local"].max_concurrent is None
    assert endpoints["vllm"].max_concurrent == 4
