"""Tests for chatroom.core.export: Markdown, JSON and HTML transcripts, and import.

The JSON is checked against docs/transcript.schema.json with a small
validator written here (jsonschema is not a dependency); the validator knows
only the keywords the schema uses and fails on any other, so the schema
cannot quietly rely on a rule nobody checks.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, NoReturn

import pytest

from chatroom.core import export
from chatroom.core.errors import ChatroomError
from chatroom.core.export import (
    FORMAT,
    FORMATS,
    VERSION,
    Format,
    TranscriptError,
    export_room,
    from_json,
    import_file,
    render,
    to_html,
    to_json,
    to_markdown,
)
from chatroom.core.params import SPECS, STOP_KEY
from chatroom.core.room import Reply, ReplyState, Room, SeatId, Turn, Usage

REPO: Final = Path(__file__).resolve().parents[2]
SCHEMA: Final = json.loads((REPO / "docs" / "transcript.schema.json").read_text(encoding="utf-8"))

#: 2026-01-01T12:00:00Z; offsets below are binary fractions, so times survive exactly.
T0: Final = 1767268800.0
HOSTILE: Final = "Look: <script>alert(1)</script> and ![x](http://127.0.0.1/x.png) & done"

S1, S2, S3 = SeatId("s1"), SeatId("s2"), SeatId("s3")

Json = dict[str, object]


# ---------------------------------------------------------------- the sample room


def reply(seat: SeatId, state: ReplyState, text: str, start: float, **fields: object) -> Reply:
    """A reply created at `start`, sent 0.25 s later, first token 0.5 s after sending
    (none without text), ended 2 s after that."""
    made = Reply(
        seat,
        state=state,
        created_at=start,
        sent_at=start + 0.25,
        first_token_at=start + 0.75 if text else None,
        finished_at=start + 2.75,
        **fields,  # type: ignore[arg-type]  # the test passes Reply's own keywords
    )
    made.text = text
    return made


def sample_room() -> Room:
    """Three seats, two turns: done, stopped, failed, interrupted, reasoning, usage, overrides."""
    room = Room(title="Compare <haiku> & friends", created_at=T0,
                system_prompt="Answer briefly.\nUse Markdown.",
                params={"temperature": 0.7, "max_tokens": 512})
    room.add_seat("anthropic/claude-3.5-haiku")
    room.add_seat("openai/gpt-4o-mini", params={"temperature": 0.2, "top_k": 40, "stop": ["END"]})
    room.add_seat("deepseek/deepseek-r1", endpoint="local")
    first = T0 + 10
    room.turns.append(Turn("Say hi, déjà vu 🙂", {
        S1: reply(S1, ReplyState.DONE, HOSTILE, first, finish_reason="stop",
                  usage=Usage(12, 80, 92, 0.00033)),
        S2: reply(S2, ReplyState.STOPPED, "Partial:\n```python\nprint('hi'", first),
        S3: reply(S3, ReplyState.DONE, "Hi! 日本語", first, reasoning="The user greets; greet back.",
                  finish_reason="stop", usage=Usage(9, 30, 39)),
    }, first))
    second = T0 + 60
    room.turns.append(Turn("And again?", {
        S1: reply(S1, ReplyState.FAILED, "Half an ans", second,
                  error="The model is unavailable: overloaded"),
        S2: reply(S2, ReplyState.INTERRUPTED, "Cut off mid", second,
                  error="The connection closed before the reply was complete."),
        S3: reply(S3, ReplyState.DONE, "Again: hi.", second, finish_reason="length"),
    }, second))
    return room


@pytest.fixture
def room() -> Room:
    return sample_room()


def transcript(room: Room) -> Json:
    document = json.loads(to_json(room))
    assert isinstance(document, dict)
    return document


def first_reply(document: Json) -> Json:
    return document["turns"][0]["replies"][0]  # type: ignore[index, no-any-return]


# ---------------------------------------------------------------- a small JSON Schema validator

_ANNOTATIONS: Final = {"$schema", "$id", "$defs", "title", "description", "format"}
_TYPES: Final[dict[str, Callable[[object], bool]]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def schema_errors(value: object, schema: Json, root: Json = SCHEMA, path: str = "$") -> list[str]:
    """Every way `value` breaks `schema` (a subset of draft 2020-12); [] when it is valid."""
    unknown = set(schema) - _ANNOTATIONS - set().union(*(keywords for keywords, _ in _CHECKS))
    assert not unknown, f"the test validator does not know {sorted(unknown)} at {path}"
    errors: list[str] = []
    for keywords, check in _CHECKS:
        if keywords & schema.keys():
            errors += check(value, schema, root, path)
    return errors


def _check_ref(value: object, schema: Json, root: Json, path: str) -> list[str]:
    ref = schema["$ref"]
    assert isinstance(ref, str) and ref.startswith("#/$defs/"), ref
    target = root["$defs"][ref.removeprefix("#/$defs/")]  # type: ignore[index]
    return schema_errors(value, target, root, path)


def _check_type(value: object, schema: Json, root: Json, path: str) -> list[str]:
    names = schema["type"]
    names = [names] if isinstance(names, str) else names
    assert isinstance(names, list)
    return [] if any(_TYPES[name](value) for name in names) else [f"{path}: not {names}"]


def _check_object(value: object, schema: Json, root: Json, path: str) -> list[str]:
    if not isinstance(value, dict):
        return []
    required = schema.get("required", [])
    assert isinstance(required, list)
    errors = [f"{path}: {key} missing" for key in required if key not in value]
    properties = schema.get("properties", {})
    assert isinstance(properties, dict)
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            errors += schema_errors(item, properties[key], root, f"{path}.{key}")
        elif extra is False:
            errors.append(f"{path}: unexpected {key}")
        elif isinstance(extra, dict):
            errors += schema_errors(item, extra, root, f"{path}.{key}")
    return errors


def _check_array(value: object, schema: Json, root: Json, path: str) -> list[str]:
    if not isinstance(value, list):
        return []
    errors = []
    limit = schema.get("maxItems")
    if isinstance(limit, int) and len(value) > limit:
        errors.append(f"{path}: more than {limit} items")
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            errors += schema_errors(item, items, root, f"{path}[{i}]")
    return errors


def _check_value(value: object, schema: Json, root: Json, path: str) -> list[str]:
    errors = []
    # const 1 must not accept true, although True == 1 in Python.
    if "const" in schema and (value != schema["const"] or isinstance(value, bool)):
        errors.append(f"{path}: not {schema['const']!r}")
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        errors.append(f"{path}: {value!r} not in enum")
    if _TYPES["number"](value):
        assert isinstance(value, int | float)
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float) and value < low:
            errors.append(f"{path}: below {low}")
        if isinstance(high, int | float) and value > high:
            errors.append(f"{path}: above {high}")
    if isinstance(value, str):
        pattern, shortest = schema.get("pattern"), schema.get("minLength")
        if isinstance(pattern, str) and not re.search(pattern, value):
            errors.append(f"{path}: {value!r} does not match {pattern}")
        if isinstance(shortest, int) and len(value) < shortest:
            errors.append(f"{path}: shorter than {shortest}")
    return errors


_Check = Callable[[object, Json, Json, str], list[str]]
#: Each check runs once per schema when any of its keywords is there.
_CHECKS: Final[list[tuple[frozenset[str], _Check]]] = [
    (frozenset({"$ref"}), _check_ref),
    (frozenset({"type"}), _check_type),
    (frozenset({"properties", "required", "additionalProperties"}), _check_object),
    (frozenset({"items", "maxItems"}), _check_array),
    (frozenset({"const", "enum", "minimum", "maximum", "pattern", "minLength"}), _check_value),
]


# ---------------------------------------------------------------- JSON: shape and schema


def test_json_has_the_contract_shape(room: Room) -> None:
    document = transcript(room)
    assert document["format"] == FORMAT == "chatroom.transcript"
    assert document["version"] == VERSION == 1
    assert document["title"] == "Compare <haiku> & friends"
    assert document["created"] == "2026-01-01T12:00:00Z"
    assert document["system_prompt"] == "Answer briefly.\nUse Markdown."
    seats = document["seats"]
    assert isinstance(seats, list)
    assert seats[1] == {
        "id": "s2",
        "endpoint": "openrouter",
        "model": "openai/gpt-4o-mini",
        "label": "gpt-4o-mini · t=0.2 k=40 stop",
        "params": {"temperature": 0.2, "top_k": 40, "stop": ["END"]},
        "effective_params": {"temperature": 0.2, "top_k": 40, "max_tokens": 512, "stop": ["END"]},
    }
    assert first_reply(document) == {
        "seat": "s1",
        "text": HOSTILE,
        "reasoning": None,
        "state": "done",
        "finish_reason": "stop",
        "error": None,
        "usage": {"prompt_tokens": 12, "completion_tokens": 80, "total_tokens": 92},
        "metrics": {"ttft_s": 0.5, "tokens_per_s": 39.5, "tokens_estimated": False},
        "cost_usd": 0.00033,
        "created_at": "2026-01-01T12:00:10Z",
        "sent_at": "2026-01-01T12:00:10.250Z",
        "first_token_at": "2026-01-01T12:00:10.750Z",
        "finished_at": "2026-01-01T12:00:12.750Z",
    }


def test_json_writes_null_for_what_is_unknown(room: Room) -> None:
    turns = transcript(room)["turns"]
    assert isinstance(turns, list)
    stopped, with_reasoning = turns[0]["replies"][1], turns[0]["replies"][2]
    assert stopped["usage"] is None and stopped["cost_usd"] is None
    assert stopped["finish_reason"] is None
    assert stopped["metrics"]["tokens_estimated"] is True  # counted from the text
    assert with_reasoning["reasoning"] == "The user greets; greet back."
    assert with_reasoning["cost_usd"] is None  # usage without a reported cost
    unsent = Room(title="t", created_at=T0)
    seat = unsent.add_seat("fake/echo")
    unsent.start_turn("hi")
    waiting = transcript(unsent)["turns"][0]["replies"][0]  # type: ignore[index]
    assert waiting["seat"] == seat.id
    assert waiting["metrics"] is None and waiting["sent_at"] is None


def test_json_keeps_unicode_and_indents(room: Room) -> None:
    text = to_json(room)
    assert "déjà vu 🙂" in text and "日本語" in text
    assert text.startswith('{\n  "format": "chatroom.transcript",\n  "version": 1,')
    assert text.endswith("}\n")


def test_json_validates_against_the_schema(room: Room) -> None:
    assert schema_errors(transcript(room), SCHEMA) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(version="1"), "$.version"),
        (lambda d: d.pop("turns"), "turns missing"),
        (lambda d: d.update(created="2026-01-01 12:00"), "$.created"),
        (lambda d: first_reply(d).update(state="paused"), "not in enum"),
        (lambda d: first_reply(d).update(cost_usd="0.1"), "$.turns[0].replies[0].cost_usd"),
        (lambda d: first_reply(d)["usage"].update(prompt_tokens=-1), "below 0"),  # type: ignore[attr-defined]
        (lambda d: d["seats"][1]["params"].update(temperature=5), "above 2.0"),
        (lambda d: d["seats"][1]["params"].update(stop=["a", "b", "c", "d", "e"]), "more than 4"),
    ],
)
def test_the_schema_rejects_broken_transcripts(
    room: Room, change: Callable[[Json], object], expected: str
) -> None:
    document = transcript(room)
    change(document)
    errors = schema_errors(document, SCHEMA)
    assert any(expected in error for error in errors), errors


def test_the_schema_knows_every_state_and_parameter() -> None:
    defs = SCHEMA["$defs"]
    assert defs["reply"]["properties"]["state"]["enum"] == [s.value for s in ReplyState]
    params = defs["params"]["properties"]
    assert list(params) == [spec.key for spec in SPECS] + [STOP_KEY]
    for spec in SPECS:
        assert params[spec.key]["type"] == ("integer" if spec.kind is int else "number")
        assert params[spec.key].get("minimum") == spec.low
        assert params[spec.key].get("maximum") == spec.high


def test_the_contract_example_of_the_architecture_imports() -> None:
    """The shape in ARCHITECTURE.md alone, without the optional fields, is a valid transcript."""
    example: Json = {
        "format": "chatroom.transcript", "version": 1,
        "title": "Haiku", "created": "2026-01-01T12:00:00Z",
        "system_prompt": "",
        "seats": [{"id": "s1", "endpoint": "openrouter", "model": "anthropic/claude-3.5-haiku",
                   "label": "claude-3.5-haiku", "params": {"temperature": 0.7}}],
        "turns": [{"prompt": "Hi", "sent_at": "2026-01-01T12:00:01Z",
                   "replies": [{"seat": "s1", "text": "Hello", "reasoning": None, "state": "done",
                                "finish_reason": "stop", "error": None,
                                "usage": {"prompt_tokens": 12, "completion_tokens": 80},
                                "metrics": {"ttft_s": 0.41, "tokens_per_s": 57.2},
                                "cost_usd": 0.00033}]}],
    }
    assert schema_errors(example, SCHEMA) == []
    room = from_json(json.dumps(example))
    got = room.turns[0].replies[S1]
    assert (got.text, got.state, got.usage) == ("Hello", ReplyState.DONE, Usage(12, 80, None, 0.00033))
    assert got.created_at == room.turns[0].sent_at == T0 + 1
    assert room.seats[0].params == {"temperature": 0.7} and room.params == {}


def test_the_documented_example_is_valid_and_every_field_is_documented() -> None:
    doc = (REPO / "docs" / "transcript-format.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    assert schema_errors(json.loads(example.group(1)), SCHEMA) == []
    assert from_json(example.group(1)).seats[1].label == "gpt-4o-mini · t=0.2"
    for name, definition in [("top level", SCHEMA), *SCHEMA["$defs"].items()]:
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in doc, f"{name}.{field} is not documented"


# ---------------------------------------------------------------- round trip


def test_import_gives_back_every_exported_field(room: Room) -> None:
    back = from_json(to_json(room))
    assert back.id != room.id
    assert (back.title, back.created_at, back.system_prompt, back.params) == (
        room.title, room.created_at, room.system_prompt, room.params)
    assert back.seats == room.seats
    assert len(back.turns) == len(room.turns)
    for old_turn, new_turn in zip(room.turns, back.turns, strict=True):
        assert (new_turn.prompt, new_turn.sent_at) == (old_turn.prompt, old_turn.sent_at)
        assert list(new_turn.replies) == list(old_turn.replies)
        for seat_id, old in old_turn.replies.items():
            assert_same_reply(new_turn.replies[seat_id], old)


def assert_same_reply(new: Reply, old: Reply) -> None:
    for name in ("seat_id", "text", "reasoning", "state", "finish_reason", "usage", "error",
                 "created_at", "sent_at", "first_token_at", "finished_at"):
        assert getattr(new, name) == getattr(old, name), name


def test_a_re_export_of_an_import_is_identical(room: Room) -> None:
    text = to_json(room)
    assert to_json(from_json(text)) == text


def test_times_keep_microseconds_and_other_zones_are_read() -> None:
    room = Room(title="t", created_at=T0 + 0.123456)
    document = transcript(room)
    assert document["created"] == "2026-01-01T12:00:00.123456Z"
    assert from_json(json.dumps(document)).created_at == pytest.approx(T0 + 0.123456, abs=1e-6)
    document["created"] = "2026-01-01T13:00:00+01:00"
    assert from_json(json.dumps(document)).created_at == T0


def test_each_import_is_a_new_room_whose_new_seats_do_not_clash(room: Room) -> None:
    text = to_json(room)
    first, second = from_json(text), from_json(text)
    assert len({room.id, first.id, second.id}) == 3
    assert first.add_seat("fake/echo").id == "s4"


def test_replies_caught_mid_stream_come_back_interrupted(room: Room) -> None:
    document = transcript(room)
    first_reply(document)["state"] = "streaming"
    document["turns"][1]["replies"][0]["state"] = "waiting"  # type: ignore[index]
    back = from_json(json.dumps(document))
    assert back.turns[0].replies[S1].state is ReplyState.INTERRUPTED
    assert back.turns[0].replies[S1].text == HOSTILE
    assert back.turns[1].replies[S1].state is ReplyState.INTERRUPTED


def test_unknown_fields_and_parameters_are_ignored(room: Room) -> None:
    document = transcript(room)
    document["exported_by"] = "Chatroom 9"
    first_reply(document)["sentiment"] = {"score": 1}
    document["seats"][0]["params"] = {"future_knob": 3, "top_p": 0.5}  # type: ignore[index]
    back = from_json(json.dumps(document))
    assert back.seats[0].params == {"top_p": 0.5}


def test_replies_of_removed_seats_are_left_out(room: Room) -> None:
    room.remove_seat(S2)
    document = transcript(room)
    seats = [reply["seat"] for reply in document["turns"][0]["replies"]]  # type: ignore[index]
    assert seats == ["s1", "s3"]
    assert list(from_json(to_json(room)).turns[0].replies) == [S1, S3]


# ---------------------------------------------------------------- bad transcripts


def test_a_newer_version_asks_for_an_update(room: Room) -> None:
    document = transcript(room)
    document["version"] = 2
    document["turns"] = "whatever a newer Chatroom writes"
    with pytest.raises(TranscriptError) as caught:
        from_json(json.dumps(document))
    assert str(caught.value) == (
        "This transcript was written by a newer Chatroom (format version 2); "
        "update Chatroom to open it."
    )
    assert isinstance(caught.value, ChatroomError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
        ("", "not valid JSON"),
        ("[1, 2]", 'it has no "format": "chatroom.transcript"'),
        ('{"format": "something.else", "version": 1}', 'it has no "format"'),
        ('{"format": "chatroom.transcript"}', "version is missing"),
        ('{"format": "chatroom.transcript", "version": "1"}', "version must be a whole number"),
        ('{"format": "chatroom.transcript", "version": 0}', "invalid format version (0)"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["cut", "empty", "array", "other-format", "no-version", "string-version", "version-0", "deep"],
)
def test_files_that_are_not_transcripts_are_refused(text: str, message: str) -> None:
    with pytest.raises(TranscriptError, match=re.escape(message)):
        from_json(text)


def _set(path: str, value: object) -> Callable[[Json], None]:
    """A change that sets the field at a dotted path such as `turns.0.replies.1.state`."""
    *parents, last = path.split(".")

    def change(document: Json) -> None:
        node: object = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]  # type: ignore[attr-defined]
        else:
            node[last] = value  # type: ignore[index]

    return change


_DELETE: Final = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("title", None), "title must be a string, not null"),
        (_set("created", "yesterday"), "created must be a date and time such as 2026-01-01T12:00:00Z, not 'yesterday'"),
        (_set("created", "2026-01-01T12:00:00"), "created needs a time zone (Z for UTC)"),
        (_set("seats", {}), "seats must be an array, not an object"),
        (_set("seats.1", "s2"), "seats[1] must be an object, not a string"),
        (_set("seats.1.model", ""), "seats[1].model must not be empty"),
        (_set("seats.2.id", "s1"), "seats[2].id repeats the seat id 's1'"),
        (_set("seats.1.params.temperature", 7), "seats[1].params has a bad value: temperature must be 0.0 to 2.0"),
        (_set("params.max_tokens", 1.5), "params has a bad value: max_tokens must be a whole number"),
        (_set("turns.1.prompt", _DELETE), "turns[1].prompt is missing"),
        (_set("turns.1.replies.0.state", "paused"), "turns[1].replies[0].state must be one of waiting, queued, streaming, done, stopped, failed, interrupted, not 'paused'"),
        (_set("turns.1.replies.0.seat", "s9"), "turns[1].replies[0].seat names no seat of the room: 's9'"),
        (_set("turns.1.replies.1.seat", "s1"), "turns[1].replies[1].seat repeats the seat 's1' in one turn"),
        (_set("turns.0.replies.0.text", None), "turns[0].replies[0].text must be a string, not null"),
        (_set("turns.0.replies.0.usage.completion_tokens", -3), "turns[0].replies[0].usage.completion_tokens must not be negative"),
        (_set("turns.0.replies.0.usage.prompt_tokens", True), "usage.prompt_tokens must be a whole number, not true/false"),
        (_set("turns.0.replies.0.cost_usd", "cheap"), "turns[0].replies[0].cost_usd must be a number, not a string"),
        (_set("turns.0.replies.0.metrics.ttft_s", -1), "turns[0].replies[0].metrics.ttft_s must be a number from 0"),
        (_set("turns.0.replies.0.metrics.tokens_estimated", "no"), "metrics.tokens_estimated must be true or false"),
        (_set("turns.0.replies.0.finished_at", 12), "turns[0].replies[0].finished_at must be a string, not a number"),
    ],
)
def test_a_malformed_transcript_names_the_field_and_imports_nothing(
    room: Room, change: Callable[[Json], None], message: str
) -> None:
    document = transcript(room)
    change(document)
    with pytest.raises(TranscriptError) as caught:
        from_json(json.dumps(document))
    assert str(caught.value).startswith("This transcript cannot be read: ")
    assert message in str(caught.value)


# ---------------------------------------------------------------- earlier attempts


def retried_room() -> Room:
    """The sample room, with deepseek's second reply retried twice before it was done."""
    room = sample_room()
    retried = room.turns[1].replies[S3]
    retried.attempts = [
        reply(S3, ReplyState.FAILED, "", T0 + 60, error="The model is unavailable: overloaded"),
        reply(S3, ReplyState.STOPPED, HOSTILE + "\n```python\nopen(", T0 + 63, reasoning="Hmm."),
    ]
    return room


def retried_json(document: Json) -> Json:
    return document["turns"][1]["replies"][2]  # type: ignore[index, no-any-return]


def test_json_lists_earlier_attempts_only_for_a_retried_reply() -> None:
    document = transcript(retried_room())
    retried = retried_json(document)
    attempts = retried["earlier_attempts"]
    assert isinstance(attempts, list)
    first, second = attempts
    assert set(first) == set(retried) - {"earlier_attempts"}  # the fields of a reply
    assert (first["seat"], first["state"], first["text"], first["error"]) == (
        "s3", "failed", "", "The model is unavailable: overloaded")
    assert (second["state"], second["reasoning"], second["finished_at"]) == (
        "stopped", "Hmm.", "2026-01-01T12:01:05.750Z")
    others = [r for t in document["turns"] for r in t["replies"] if r is not retried]  # type: ignore[attr-defined]
    assert others and not any("earlier_attempts" in r for r in others)
    assert schema_errors(document, SCHEMA) == []


def test_earlier_attempts_round_trip() -> None:
    room = retried_room()
    back = from_json(to_json(room))
    got = back.turns[1].replies[S3]
    assert len(got.attempts) == 2 and got.attempt == 3
    for new, old in zip(got.attempts, room.turns[1].replies[S3].attempts, strict=True):
        assert_same_reply(new, old)
        assert new.attempts == []
    assert to_json(back) == to_json(room)


@pytest.mark.parametrize("value", [_DELETE, None, []], ids=["missing", "null", "empty"])
def test_a_reply_without_earlier_attempts_imports_as_never_retried(value: object) -> None:
    """Files written before earlier attempts were kept have no such field."""
    document = transcript(retried_room())
    if value is _DELETE:
        del retried_json(document)["earlier_attempts"]
    else:
        retried_json(document)["earlier_attempts"] = value
    got = from_json(json.dumps(document)).turns[1].replies[S3]
    assert (got.text, got.attempts) == ("Again: hi.", [])


def test_an_attempt_caught_mid_stream_comes_back_interrupted() -> None:
    document = transcript(retried_room())
    retried_json(document)["earlier_attempts"][0]["state"] = "streaming"  # type: ignore[index]
    got = from_json(json.dumps(document)).turns[1].replies[S3]
    assert got.attempts[0].state is ReplyState.INTERRUPTED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(earlier_attempts={}), "turns[1].replies[2].earlier_attempts must be an array"),
        (lambda r: r["earlier_attempts"][0].update(seat="s1"),
         "turns[1].replies[2].earlier_attempts[0].seat must be the reply's seat 's3'"),
        (lambda r: r["earlier_attempts"][1].update(earlier_attempts=[]),
         "turns[1].replies[2].earlier_attempts[1].earlier_attempts cannot be inside an attempt"),
        (lambda r: r["earlier_attempts"][1].update(state="paused"),
         "turns[1].replies[2].earlier_attempts[1].state must be one of"),
        (lambda r: r["earlier_attempts"][0].pop("text"), "turns[1].replies[2].earlier_attempts[0].text is missing"),
    ],
    ids=["not-array", "other-seat", "nested", "bad-state", "no-text"],
)
def test_a_malformed_attempt_names_its_path(change: Callable[[Json], object], message: str) -> None:
    document = transcript(retried_room())
    change(retried_json(document))
    with pytest.raises(TranscriptError, match=re.escape(message)):
        from_json(json.dumps(document))


def test_markdown_puts_earlier_attempts_after_the_reply_collapsed() -> None:
    md = to_markdown(retried_room())
    assert "| deepseek-r1 | done (attempt 3) |" in md
    assert "Attempt 3; the earlier ones follow this reply." in md
    reply_at = md.index("Again: hi.")
    details_at = md.index("<details>\n<summary>2 earlier attempts</summary>\n\n#### Attempt 1: failed")
    assert reply_at < details_at
    assert "#### Attempt 2: stopped\n\nMetrics: " in md
    assert "> **Failed.** Error: The model is unavailable: overloaded" in md[details_at:]
    assert md.rstrip().endswith("open(\n```\n\n</details>")  # its open fence closed first
    assert md.count("\n### ") == 6 and md.count("\n#### Attempt ") == 2


def test_html_puts_earlier_attempts_in_a_closed_details_block() -> None:
    page = to_html(retried_room())
    assert page.count('<details class="attempts">') == 1
    assert "<summary>Attempt 3; 2 earlier attempts</summary>" in page
    assert page.count('<div class="attempt state-') == 2
    assert '<p class="attempt-no">Attempt 1</p><p class="status">Failed. Error: The model' in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # escaped in the attempt too
    assert "<script" not in page.lower() and "<details open" not in page


# ---------------------------------------------------------------- Markdown


def test_markdown_has_seat_headings_parameters_and_metrics(room: Room) -> None:
    md = to_markdown(room)
    assert md.startswith("# Compare <haiku> & friends\n")
    assert "### claude-3.5-haiku (`anthropic/claude-3.5-haiku`)" in md
    assert "### gpt-4o-mini · t=0.2 k=40 stop (`openai/gpt-4o-mini`)" in md
    assert "### deepseek-r1 (`deepseek/deepseek-r1`)" in md
    assert md.count("### ") == 6
    assert 'Parameters: temperature=0.2, top_k=40, max_tokens=512, stop=["END"]' in md
    assert "Parameters: temperature=0.7, max_tokens=512" in md
    assert "| seat | state | TTFT | tok/s | tokens in/out | cost |" in md
    assert "| claude-3.5-haiku | done | 0.50 s | 39.5 | 12 / 80 | $0.00033 |" in md
    assert "Metrics: TTFT 0.50 s · 40 tok/s · 12 → 80 tok · $0.00033 · finish: stop" in md
    assert "> Answer briefly.\n> Use Markdown." in md
    assert "> Say hi, déjà vu 🙂" in md


def test_markdown_marks_partial_replies(room: Room) -> None:
    md = to_markdown(room)
    assert "> **Stopped by the user — partial reply.**\n" in md
    assert "> **Failed — partial reply.** Error: The model is unavailable: overloaded\n" in md
    assert "> **Interrupted before the end — partial reply.** Error: The connection" in md
    assert "> *Reasoning:*\n>\n> The user greets; greet back." in md


def test_replies_without_text_or_still_running_say_so() -> None:
    room = Room(title="t", created_at=T0)
    room.add_seat("fake/http-503")
    room.add_seat("fake/lorem")
    turn = room.start_turn("hi")
    turn.replies[S1].move_to(ReplyState.FAILED)
    turn.replies[S1].error = "The model is unavailable: down"
    turn.replies[S2].append_text("Lorem")
    md, page = to_markdown(room), to_html(room)
    assert "> **Failed.** Error: The model is unavailable: down" in md
    assert "*(no text)*" in md and '<p class="empty">(no text)</p>' in page
    assert "> **Still streaming when exported — partial reply.**" in md
    assert "Still streaming when exported — partial reply." in page


def test_markdown_closes_a_code_fence_a_stopped_reply_left_open(room: Room) -> None:
    md = to_markdown(room)
    assert "print('hi'\n```\n\n### deepseek-r1" in md


def test_markdown_survives_an_empty_room() -> None:
    md = to_markdown(Room(created_at=T0))
    assert md.startswith("# Untitled room\n\nExported from Chatroom. Created 2026-01-01 12:00:00 UTC; 0 seats, 0 turns.")


# ---------------------------------------------------------------- HTML


def test_html_loads_nothing_and_runs_nothing(room: Room) -> None:
    page = to_html(room)
    lowered = page.lower()
    for banned in ("<script", "src=", "<link", "@import", "url(", "<img", "<iframe", "<object"):
        assert banned not in lowered, banned
    assert not re.search(r"""(href|src|action|poster|data)\s*=\s*["']?\s*(https?:|//)""", lowered)
    assert "default-src 'none'" in page


def test_html_escapes_model_text_and_the_title(room: Room) -> None:
    page = to_html(room)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "![x](http://127.0.0.1/x.png) &amp; done" in page  # visible text, not a resource
    assert "<title>Compare &lt;haiku&gt; &amp; friends</title>" in page
    assert "<h1>Compare &lt;haiku&gt; &amp; friends</h1>" in page


def test_html_puts_seats_side_by_side_with_metrics_under_each_reply(room: Room) -> None:
    page = to_html(room)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<th scope="col">') == 3
    assert page.count('<tr class="replies">') == 2
    assert page.count('<td class="reply ') == 6
    assert page.count('<p class="metrics">') == 6
    assert page.count('colspan="3"') == 2
    assert 'Parameters: temperature=0.2, top_k=40, max_tokens=512, stop=[&quot;END&quot;]' in page
    assert '<td class="reply state-stopped"><p class="status">Stopped by the user — partial reply.</p>' in page
    assert "Failed — partial reply. Error: The model is unavailable: overloaded" in page
    assert '<div class="reasoning">' in page
    assert "@media print" in page and "break-inside: avoid" in page


def test_html_shows_a_missing_reply_and_a_room_without_seats(room: Room) -> None:
    room.add_seat("fake/echo")
    assert to_html(room).count("No reply in this turn.") == 2
    empty = Room(created_at=T0)
    empty.turns.append(Turn("alone", {}, T0))
    page = to_html(empty)
    assert '<td colspan="1">' in page and "<title>Untitled room</title>" in page


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_room_writes_each_format(room: Room, tmp_path: Path, fmt: Format) -> None:
    target = tmp_path / "out" / f"room.{fmt}"
    export_room(room, target, fmt)
    assert target.read_text(encoding="utf-8") == render(room, fmt)
    if sys.platform != "win32":
        assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_render_refuses_an_unknown_format(room: Room) -> None:
    with pytest.raises(TranscriptError, match="Unknown export format 'pdf'; choose md, json or html."):
        render(room, "pdf")  # type: ignore[arg-type]


def test_a_failed_export_leaves_the_old_file_and_no_temporary(
    room: Room, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where a read-only directory does not stop writes: fail the rename.
    target = tmp_path / "room.json"
    target.write_text("old transcript", encoding="utf-8")

    def disk_full(src: object, dst: object) -> NoReturn:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(TranscriptError) as caught:
        export_room(room, target, "json")
    assert str(caught.value) == f"Could not write {target}: No space left on device."
    assert target.read_text(encoding="utf-8") == "old transcript"
    assert list(tmp_path.iterdir()) == [target]


def test_export_to_an_impossible_path_is_a_transcript_error(room: Room, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    with pytest.raises(TranscriptError, match=r"^Could not write .*file[/\\]room\.md: "):
        export_room(room, blocker / "room.md", "md")


def test_import_file_reads_what_export_room_wrote(room: Room, tmp_path: Path) -> None:
    target = tmp_path / "room.json"
    export_room(room, target, "json")
    assert to_json(import_file(target)) == to_json(room)
    target.write_bytes(b"\xef\xbb\xbf" + target.read_bytes())  # a BOM from a Windows editor
    assert import_file(target).title == room.title


def test_import_file_errors_are_transcript_errors(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match=r"^Could not read .*missing\.json: No such file or directory\.$"):
        import_file(tmp_path / "missing.json")
    binary = tmp_path / "picture.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(TranscriptError, match=r"picture\.json is not UTF-8 text"):
        import_file(binary)
    with pytest.raises(TranscriptError, match="Could not read"):
        import_file(tmp_path)  # a directory


def test_non_finite_numbers_never_reach_the_json(room: Room) -> None:
    room.turns[0].replies[S1].usage = Usage(12, 80, 92, math.inf)
    document = transcript(room)
    assert first_reply(document)["cost_usd"] is None
    assert "Infinity" not in to_json(room)


def test_the_module_lists_its_public_names() -> None:
    assert set(export.__all__) >= {"to_markdown", "to_json", "to_html", "render", "export_room",
                                   "from_json", "import_file", "TranscriptError", "FORMAT", "VERSION"}
    assert FORMATS == ("md", "json", "html")
    assert datetime.fromtimestamp(T0, UTC).isoformat() == "2026-01-01T12:00:00+00:00"  # T0 as documented
