"""The sampling parameters: one table that drives controls, validation and requests.

Ranges and defaults come from openrouter-api.md §3. A parameter equal to its
default is not sent, so the provider's own default stays in force.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from chatroom.core.errors import ParameterError

__all__ = [
    "MAX_STOP_SEQUENCES",
    "SPECS",
    "SPECS_BY_KEY",
    "STOP_KEY",
    "ParamSpec",
    "ParamValue",
    "changed_params",
    "markdown_table",
    "merge_params",
    "validate_param",
    "validate_params",
]

ParamValue = float | int | list[str]

STOP_KEY: Final = "stop"
MAX_STOP_SEQUENCES: Final = 4


@dataclass(frozen=True)
class ParamSpec:
    """One numeric sampling parameter.

    `low`/`high` bound what the API accepts (None = unbounded). `ui_low`/`ui_high`
    bound the slider where the API range is open. `default` None means the
    parameter is off unless the user sets it (max_tokens, seed).
    """

    key: str
    kind: type[int] | type[float]
    low: float | None
    high: float | None
    default: float | int | None
    step: float
    help: str
    ui_low: float | None = None
    ui_high: float | None = None
    #: Where an optional parameter's control starts when the user switches it on.
    ui_initial: float | None = None

    @property
    def is_optional(self) -> bool:
        """Whether the parameter is off by default (no default value is sent)."""
        return self.default is None

    @property
    def slider_low(self) -> float:
        return self.ui_low if self.ui_low is not None else float(self.low or 0)

    @property
    def slider_high(self) -> float:
        if self.ui_high is not None:
            return self.ui_high
        assert self.high is not None, f"{self.key} needs ui_high"
        return self.high

    @property
    def decimals(self) -> int:
        """Decimals a spin box shows: enough for the step."""
        if self.kind is int:
            return 0
        return max(0, -math.floor(math.log10(self.step)))

    def describe_range(self) -> str:
        """The accepted range in words, e.g. '0.0 to 2.0' or 'at least 0'."""
        if self.low is not None and self.high is not None:
            return f"{self._fmt(self.low)} to {self._fmt(self.high)}"
        if self.low is not None:
            return f"at least {self._fmt(self.low)}"
        return "any integer"

    def _fmt(self, value: float) -> str:
        return str(int(value)) if self.kind is int else f"{value:.1f}"


SPECS: Final[tuple[ParamSpec, ...]] = (
    ParamSpec("temperature", float, 0.0, 2.0, 1.0, 0.05,
              "Randomness: lower is steadier (0 is nearly greedy), higher is more unusual."),
    ParamSpec("top_p", float, 0.0, 1.0, 1.0, 0.01,
              "Keep the smallest set of tokens whose probabilities sum to P; 1.0 = no cut-off."),
    ParamSpec("top_k", int, 0, None, 0, 1,
              "Only the K likeliest tokens are candidates; 0 = off, 1 = greedy.",
              ui_high=200),
    ParamSpec("frequency_penalty", float, -2.0, 2.0, 0.0, 0.05,
              "Penalise tokens by how often they appeared; > 0 repeats less verbatim."),
    ParamSpec("presence_penalty", float, -2.0, 2.0, 0.0, 0.05,
              "Penalise tokens that appeared at all; > 0 steers to new topics."),
    ParamSpec("repetition_penalty", float, 0.0, 2.0, 1.0, 0.05,
              "Multiplicative penalty on seen tokens; 1.0 = off, > 1 fewer repeats."),
    ParamSpec("min_p", float, 0.0, 1.0, 0.0, 0.01,
              "Drop tokens less likely than min_p x the top token; 0 = off."),
    ParamSpec("top_a", float, 0.0, 1.0, 0.0, 0.01,
              "Cut-off that scales with the top token's probability; 0 = off."),
    ParamSpec("max_tokens", int, 1, None, None, 1,
              "Hard cap on the reply length in tokens; off = the model's limit.",
              ui_low=1, ui_high=32768, ui_initial=1024),
    ParamSpec("seed", int, None, None, None, 1,
              "Same seed and parameters should repeat the output (not guaranteed).",
              ui_low=0, ui_high=2**31 - 1),
)

SPECS_BY_KEY: Final[Mapping[str, ParamSpec]] = {spec.key: spec for spec in SPECS}


def validate_param(key: str, value: object) -> ParamValue:
    """Return `value` normalised for `key`, or raise ParameterError saying why not."""
    if key == STOP_KEY:
        return _validate_stop(value)
    spec = SPECS_BY_KEY.get(key)
    if spec is None:
        raise ParameterError(f"Unknown parameter {key!r}.")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{key} must be a number, not {type(value).__name__}.")
    if spec.kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ParameterError(f"{key} must be a whole number, not {value}.")
        number: float | int = int(value)
    else:
        if not math.isfinite(value):
            raise ParameterError(f"{key} must be a finite number.")
        number = float(value)
    if (spec.low is not None and number < spec.low) or (
        spec.high is not None and number > spec.high
    ):
        raise ParameterError(f"{key} must be {spec.describe_range()}; got {number}.")
    return number


def _validate_stop(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ParameterError("stop must be a list of strings.")
    sequences = [s for s in value if s]
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise ParameterError(
            f"stop takes at most {MAX_STOP_SEQUENCES} sequences; got {len(sequences)}."
        )
    return sequences


def validate_params(values: Mapping[str, object]) -> dict[str, ParamValue]:
    """Validate every value; raise ParameterError on the first bad one."""
    return {key: validate_param(key, value) for key, value in values.items()}


def changed_params(values: Mapping[str, object]) -> dict[str, ParamValue]:
    """The validated values that differ from their defaults: what a request sends.

    Ordered as SPECS, then stop, so requests are stable and easy to read.
    """
    valid = validate_params(values)
    changed: dict[str, ParamValue] = {}
    for spec in SPECS:
        if spec.key in valid and valid[spec.key] != spec.default:
            changed[spec.key] = valid[spec.key]
    if valid.get(STOP_KEY):
        changed[STOP_KEY] = valid[STOP_KEY]
    return changed


def merge_params(*layers: Mapping[str, object]) -> dict[str, ParamValue]:
    """Effective values: later layers override earlier ones (room <- seat)."""
    merged: dict[str, object] = {}
    for layer in layers:
        merged.update(layer)
    return changed_params(merged)


def markdown_table() -> str:
    """The parameter table of README.md, built from SPECS (a test keeps them equal)."""
    rows = ["| parameter | range | default | what it does |", "| --- | --- | --- | --- |"]
    for spec in SPECS:
        default = "off" if spec.default is None else str(spec.default)
        rows.append(f"| `{spec.key}` | {spec.describe_range()} | {default} | {spec.help} |")
    rows.append(
        f"| `{STOP_KEY}` | up to {MAX_STOP_SEQUENCES} strings | none "
        "| The reply ends where one of these sequences would appear. |"
    )
    return "\n".join(rows)
