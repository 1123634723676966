"""Tests for chatroom.core.params: the one table of sampling parameters.

Every spec is checked at and just beyond each of its bounds, so a range typed
wrong in SPECS fails here and not on the wire.
"""

from __future__ import annotations

import math

import pytest

from chatroom.core.errors import ParameterError
from chatroom.core.params import (
    MAX_STOP_SEQUENCES,
    SPECS,
    SPECS_BY_KEY,
    STOP_KEY,
    ParamSpec,
    changed_params,
    markdown_table,
    merge_params,
    validate_param,
    validate_params,
)

FLOAT_SPECS = [s for s in SPECS if s.kind is float]
INT_SPECS = [s for s in SPECS if s.kind is int]
LOW_SPECS = [s for s in SPECS if s.low is not None]
HIGH_SPECS = [s for s in SPECS if s.high is not None]
OPEN_SPECS = [s for s in SPECS if s.low is None or s.high is None]
BY_KEY = pytest.mark.parametrize("spec", SPECS, ids=[s.key for s in SPECS])


def over(specs: list[ParamSpec]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("spec", specs, ids=[s.key for s in specs])


def test_specs_cover_the_documented_parameters() -> None:
    assert [s.key for s in SPECS] == [
        "temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty",
        "repetition_penalty", "min_p", "top_a", "max_tokens", "seed",
    ]  # fmt: skip
    assert set(SPECS_BY_KEY) == {s.key for s in SPECS}
    assert STOP_KEY not in SPECS_BY_KEY


# ---------------------------------------------------------------- bounds


@over(LOW_SPECS)
def test_low_bound_is_accepted_exactly(spec: ParamSpec) -> None:
    assert spec.low is not None
    value = validate_param(spec.key, spec.kind(spec.low))
    assert value == spec.low
    assert type(value) is spec.kind


@over(HIGH_SPECS)
def test_high_bound_is_accepted_exactly(spec: ParamSpec) -> None:
    assert spec.high is not None
    value = validate_param(spec.key, spec.kind(spec.high))
    assert value == spec.high
    assert type(value) is spec.kind


@over(LOW_SPECS)
def test_one_step_below_low_is_rejected_naming_the_key(spec: ParamSpec) -> None:
    assert spec.low is not None
    with pytest.raises(ParameterError, match=spec.key):
        validate_param(spec.key, spec.kind(spec.low - spec.step))


@over(HIGH_SPECS)
def test_one_step_above_high_is_rejected_naming_the_key(spec: ParamSpec) -> None:
    assert spec.high is not None
    with pytest.raises(ParameterError, match=spec.key):
        validate_param(spec.key, spec.kind(spec.high + spec.step))


@over(OPEN_SPECS)
def test_an_open_side_accepts_far_values(spec: ParamSpec) -> None:
    if spec.high is None:
        assert validate_param(spec.key, 10**12) == 10**12
    if spec.low is None:
        assert validate_param(spec.key, -(10**12)) == -(10**12)


@BY_KEY
def test_the_default_is_valid(spec: ParamSpec) -> None:
    if spec.default is None:
        assert spec.is_optional
        return
    assert not spec.is_optional
    assert validate_param(spec.key, spec.default) == spec.default


@BY_KEY
@pytest.mark.parametrize("value", [True, False])
def test_bools_are_rejected(spec: ParamSpec, value: bool) -> None:
    with pytest.raises(ParameterError, match=f"{spec.key} must be a number, not bool"):
        validate_param(spec.key, value)


@BY_KEY
@pytest.mark.parametrize("value", ["1", None, [1], {"v": 1}])
def test_non_numbers_are_rejected(spec: ParamSpec, value: object) -> None:
    with pytest.raises(ParameterError, match=spec.key):
        validate_param(spec.key, value)


@over(INT_SPECS)
def test_ints_reject_fractions(spec: ParamSpec) -> None:
    with pytest.raises(ParameterError, match=f"{spec.key} must be a whole number"):
        validate_param(spec.key, 1.5)


@over(INT_SPECS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_ints_reject_non_finite(spec: ParamSpec, value: float) -> None:
    with pytest.raises(ParameterError, match=spec.key):
        validate_param(spec.key, value)


@over(INT_SPECS)
def test_ints_take_whole_floats_as_ints(spec: ParamSpec) -> None:
    value = validate_param(spec.key, 2.0)
    assert value == 2
    assert type(value) is int


@over(FLOAT_SPECS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_floats_reject_non_finite(spec: ParamSpec, value: float) -> None:
    with pytest.raises(ParameterError, match=f"{spec.key} must be a finite number"):
        validate_param(spec.key, value)


@over(FLOAT_SPECS)
def test_floats_take_ints_as_floats(spec: ParamSpec) -> None:
    value = validate_param(spec.key, 1)
    assert value == 1.0
    assert type(value) is float


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ParameterError, match="Unknown parameter 'temprature'"):
        validate_param("temprature", 0.5)
    with pytest.raises(ParameterError, match="logit_bias"):
        validate_params({"temperature": 0.5, "logit_bias": {}})


def test_the_range_message_says_the_range() -> None:
    with pytest.raises(ParameterError) as info:
        validate_param("temperature", 2.5)
    assert str(info.value) == "temperature must be 0.0 to 2.0; got 2.5."
    with pytest.raises(ParameterError) as info:
        validate_param("max_tokens", 0)
    assert str(info.value) == "max_tokens must be at least 1; got 0."


def test_parameter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_param("top_p", 2)


# ---------------------------------------------------------------- stop


def test_stop_takes_up_to_four_sequences() -> None:
    four = ["a", "b", "c", "d"]
    assert MAX_STOP_SEQUENCES == 4
    assert validate_param("stop", four) == four


def test_stop_rejects_five_sequences() -> None:
    with pytest.raises(ParameterError, match="stop takes at most 4 sequences; got 5"):
        validate_param("stop", ["a", "b", "c", "d", "e"])


def test_stop_turns_a_string_into_a_list() -> None:
    assert validate_param("stop", "END") == ["END"]


def test_stop_drops_empty_strings_before_counting() -> None:
    assert validate_param("stop", ["", "a", "", "b", "c", "d"]) == ["a", "b", "c", "d"]
    assert validate_param("stop", "") == []


@pytest.mark.parametrize("value", [("a",), 3, None, ["a", 1], [None], {"a": "b"}])
def test_stop_rejects_anything_but_strings(value: object) -> None:
    with pytest.raises(ParameterError, match="stop must be a list of strings"):
        validate_param("stop", value)


# ---------------------------------------------------------------- changed and merged


def test_changed_params_sends_only_values_that_differ_from_defaults() -> None:
    values = {
        "temperature": 1.0,  # default
        "top_p": 0.9,
        "top_k": 0,  # default
        "frequency_penalty": 0,  # an int equal to the float default
        "max_tokens": 100,  # optional: any value is a change
        "seed": 0,
        "stop": ["END"],
    }
    assert changed_params(values) == {"top_p": 0.9, "max_tokens": 100, "seed": 0, "stop": ["END"]}


def test_changed_params_follows_the_table_order_then_stop() -> None:
    values = {"stop": "x", "seed": 1, "temperature": 0.5, "top_k": 3}
    assert list(changed_params(values)) == ["temperature", "top_k", "seed", "stop"]


def test_changed_params_leaves_out_an_empty_stop() -> None:
    assert changed_params({"stop": []}) == {}
    assert changed_params({"stop": ["", ""]}) == {}


def test_changed_params_validates() -> None:
    with pytest.raises(ParameterError, match="top_p"):
        changed_params({"top_p": 1.5})


def test_every_default_alone_changes_nothing() -> None:
    defaults = {s.key: s.default for s in SPECS if s.default is not None}
    assert changed_params(defaults) == {}


def test_merge_params_seat_overrides_room() -> None:
    room = {"temperature": 0.5, "top_p": 0.9}
    seat = {"temperature": 1.5, "max_tokens": 50}
    assert merge_params(room, seat) == {"temperature": 1.5, "top_p": 0.9, "max_tokens": 50}


def test_merge_params_seat_back_at_default_sends_nothing() -> None:
    assert merge_params({"temperature": 0.5}, {"temperature": 1.0}) == {}


def test_merge_params_of_nothing_is_empty() -> None:
    assert merge_params() == {}
    assert merge_params({}, {}) == {}


def test_merge_params_validates_the_result() -> None:
    with pytest.raises(ParameterError, match="min_p"):
        merge_params({}, {"min_p": -0.1})


# ---------------------------------------------------------------- the spec's own helpers


def test_slider_bounds() -> None:
    assert (SPECS_BY_KEY["temperature"].slider_low, SPECS_BY_KEY["temperature"].slider_high) == (0.0, 2.0)
    assert (SPECS_BY_KEY["top_k"].slider_low, SPECS_BY_KEY["top_k"].slider_high) == (0.0, 200)
    assert (SPECS_BY_KEY["frequency_penalty"].slider_low, SPECS_BY_KEY["frequency_penalty"].slider_high) == (
        -2.0,
        2.0,
    )
    assert (SPECS_BY_KEY["max_tokens"].slider_low, SPECS_BY_KEY["max_tokens"].slider_high) == (1, 32768)
    assert (SPECS_BY_KEY["seed"].slider_low, SPECS_BY_KEY["seed"].slider_high) == (0, 2**31 - 1)


@BY_KEY
def test_every_spec_has_a_slider_range(spec: ParamSpec) -> None:
    assert spec.slider_low < spec.slider_high
    assert spec.help


def test_slider_high_needs_a_bound() -> None:
    spec = ParamSpec("x", int, 0, None, 0, 1, "no upper bound, no ui_high")
    with pytest.raises(AssertionError, match="x needs ui_high"):
        _ = spec.slider_high


@pytest.mark.parametrize(
    ("key", "decimals"),
    [("temperature", 2), ("top_p", 2), ("top_k", 0), ("seed", 0)],
)
def test_decimals_follow_the_step(key: str, decimals: int) -> None:
    assert SPECS_BY_KEY[key].decimals == decimals


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("temperature", "0.0 to 2.0"),
        ("frequency_penalty", "-2.0 to 2.0"),
        ("top_k", "at least 0"),
        ("max_tokens", "at least 1"),
        ("seed", "any integer"),
    ],
)
def test_describe_range(key: str, words: str) -> None:
    assert SPECS_BY_KEY[key].describe_range() == words


def test_markdown_table_has_one_row_per_parameter() -> None:
    lines = markdown_table().splitlines()
    assert lines[0] == "| parameter | range | default | what it does |"
    assert lines[1] == "| --- | --- | --- | --- |"
    assert [line.split("`")[1] for line in lines[2:]] == [s.key for s in SPECS] + [STOP_KEY]
    assert "| `temperature` | 0.0 to 2.0 | 1.0 |" in lines[2]
    assert "| `max_tokens` | at least 1 | off |" in markdown_table()
    assert lines[-1].startswith("| `stop` | up to 4 strings | none |")
