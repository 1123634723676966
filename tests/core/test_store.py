"""Tests for chatroom.core.store: round trips, migration, search, trash, crash safety."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import pytest

from chatroom.core import paths
from chatroom.core.errors import StoreError
from chatroom.core.metrics import reply_metrics
from chatroom.core.room import Reply, ReplyState, Room, SeatId, Usage
from chatroom.core.store import (
    INTERRUPTED_ERROR,
    SCHEMA_VERSION,
    SNIPPET_END,
    SNIPPET_START,
    Store,
    match_expression,
)
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import ReplyPlan, parse_model_id, plan_reply

ROOT: Final = Path(__file__).resolve().parents[2]
DAY_S: Final = 86_400.0


class Clock:
    """A clock that moves one second per reading, so saves have distinct times."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "chatroom.sqlite3"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_store(db_path: Path, clock: Clock) -> Iterator[Callable[[], Store]]:
    """Open the store at db_path (again), closing every one opened at the end."""
    opened: list[Store] = []

    def open_() -> Store:
        opened.append(Store(db_path, clock=clock))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


def ended(seat_id: str, text: str, state: ReplyState = ReplyState.DONE) -> Reply:
    """A reply that streamed `text` and ended in `state`."""
    reply = Reply(SeatId(seat_id))
    reply.append_text(text)
    reply.move_to(state)
    return reply


def chat_room(prompts: list[str], *, models: tuple[str, ...] = ("a/one", "b/two")) -> Room:
    """A room whose every reply is done with a text naming its seat and turn."""
    room = Room()
    for model in models:
        room.add_seat(model)
    for index, prompt in enumerate(prompts):
        turn = room.start_turn(prompt)
        for seat_id in list(turn.replies):
            turn.replies[seat_id] = ended(seat_id, f"answer {index} from {seat_id}")
    return room


def normalised(room: Room) -> Room:
    """Join each reply's text parts, which dataclass equality compares as a list."""
    for turn in room.turns:
        for reply in turn.replies.values():
            reply.text = reply.text
    return room


# ---------------------------------------------------------------- round trip


def full_room() -> Room:
    """A room with every field set to something other than its default."""
    room = Room(params={"temperature": 0.3, "stop": ["END", "###"]}, system_prompt="Be brief.")
    first = room.add_seat("anthropic/claude-3.5-haiku", params={"top_k": 40})
    second = room.add_seat("local/llama", endpoint="ollama", params={"temperature": 1.5})
    room.add_seat("anthropic/claude-3.5-haiku")
    second.label = "my llama"
    turn = room.start_turn("What is déjà vu? 🙂\nExplain.")
    turn.sent_at = 1_700_000_100.25
    done = turn.replies[first.id]
    done.sent_at, done.prompt_tokens_estimate = 1_700_000_100.5, 12
    done.append_reasoning("Thinking…")
    done.append_text("Déjà vu is ")
    done.append_text("the feeling 🙂")
    done.usage = Usage(12, 80, 92, 0.00033)
    done.finish_reason = "stop"
    done.move_to(ReplyState.DONE)
    failed = turn.replies[second.id]
    failed.error = "The server failed (500): boom"
    failed.move_to(ReplyState.FAILED)
    stopped = turn.replies[SeatId("s3")]
    stopped.append_text("partial")
    stopped.usage = Usage()
    stopped.move_to(ReplyState.STOPPED)
    second_turn = room.start_turn("And jamais vu?")
    for seat_id, reply in second_turn.replies.items():
        reply.error = f"cut short {seat_id}"
        reply.move_to(ReplyState.INTERRUPTED)
    # Retried twice: the interrupted reply and a failure without text are kept as attempts.
    room.retry_reply(second_turn, first.id)
    second_turn.replies[first.id].error = "The server failed (502): bad gateway"
    second_turn.replies[first.id].move_to(ReplyState.FAILED)
    room.retry_reply(second_turn, first.id)
    third = second_turn.replies[first.id]
    third.sent_at = third.created_at + 0.25
    third.append_text("Jamais vu is the opposite.")
    third.usage = Usage(30, 7, 37, 0.0001)
    third.finish_reason = "stop"
    third.move_to(ReplyState.DONE)
    return room


def test_a_room_round_trips_every_field(open_store: Callable[[], Store]) -> None:
    room = full_room()
    open_store().save_room(room)

    loaded = open_store().load_room(room.id)

    assert loaded == normalised(room)
    assert loaded._next_seat == 4


def test_removed_seats_keep_their_replies_and_their_ids_stay_used(
    open_store: Callable[[], Store],
) -> None:
    room = chat_room(["hi"], models=("a/one", "b/two", "c/three"))
    store = open_store()
    store.save_room(room)
    room.remove_seat(SeatId("s3"))
    room.start_turn("again")
    store.save_turn(room, 1)
    loaded = open_store().load_room(room.id)

    assert [seat.id for seat in loaded.seats] == ["s1", "s2"]
    assert loaded.turns[0].replies[SeatId("s3")].text == "answer 0 from s3"
    assert list(loaded.turns[1].replies) == ["s1", "s2"]
    assert loaded.add_seat("d/four").id == "s4"
    # Even when the room's counter was lost, the seats table remembers s3.
    raw_db(store).execute("UPDATE rooms SET next_seat = 1")
    assert store.load_room(room.id).add_seat("d/four").id == "s4"


def test_metrics_are_stored_once_a_reply_ends(store: Store, db_path: Path) -> None:
    room = chat_room([])
    room.add_seat("a/one")
    turn = room.start_turn("hi")
    store.save_turn(room, 0)
    reply = turn.replies[SeatId("s1")]
    reply.sent_at = reply.created_at + 0.5
    reply.append_text("one two three four")
    store.save_reply(room.id, 0, reply, seat_label="one")
    assert stored_metrics(db_path, room.id) == (None, None)

    reply.first_token_at = reply.sent_at + 0.25
    reply.usage = Usage(3, 30, 33)
    reply.move_to(ReplyState.DONE)
    reply.finished_at = reply.first_token_at + 2.9
    store.save_reply(room.id, 0, reply, seat_label="one")

    expected = reply_metrics(reply, started_at=reply.sent_at)
    assert stored_metrics(db_path, room.id) == (expected.ttft_s, expected.tokens_per_s)
    assert expected.ttft_s == pytest.approx(0.25)
    assert expected.tokens_per_s == pytest.approx(10.0)


def stored_metrics(db_path: Path, room_id: str) -> tuple[object, object]:
    with sqlite3.connect(db_path) as db:
        row = db.execute(
            "SELECT ttft_s, tokens_per_s FROM replies WHERE room_id = ? AND seat_id = 's1'",
            (room_id,),
        ).fetchone()
    db.close()
    return row[0], row[1]


def test_save_turn_counts_negative_indexes_from_the_end(store: Store) -> None:
    room = chat_room(["one", "two"])
    store.save_turn(room, -1)
    assert [t.prompt for t in store.load_turns(room.id, 0, 5)] == ["two"]
    with pytest.raises(ValueError):
        store.save_reply(room.id, -1, room.turns[1].replies[SeatId("s1")], seat_label="one")


def test_save_reply_needs_its_turn_saved_first(store: Store) -> None:
    room = chat_room(["hi"])
    with pytest.raises(StoreError, match="save the turn first"):
        store.save_reply(room.id, 0, room.turns[0].replies[SeatId("s1")], seat_label="one")


def test_a_broken_surrogate_does_not_lose_the_reply(store: Store) -> None:
    room = chat_room(["hi"])
    room.turns[0].replies[SeatId("s1")].text = "half an emoji: \ud83d!"
    store.save_room(room)
    assert store.load_room(room.id).turns[0].replies[SeatId("s1")].text == "half an emoji: \ufffd!"


def test_the_default_file_is_in_the_data_dir(private_dirs: Path) -> None:
    with Store(paths.database_path()) as store:
        store.save_room(chat_room(["hi"]))
    assert (private_dirs / "data" / "chatroom" / "chatroom.sqlite3").is_file()


def test_calls_from_the_ui_executor_thread_work(db_path: Path) -> None:
    room = chat_room(["hi"])
    with ThreadPoolExecutor(max_workers=1) as executor:
        store = executor.submit(Store, db_path).result()
        executor.submit(store.save_room, room).result()
        assert executor.submit(store.load_room, room.id).result().title == "hi"
        # Other threads are serialised by the store's lock rather than refused.
        assert store.turn_count(room.id) == 1
        executor.submit(store.close).result()


def test_a_closed_store_says_so(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_rooms()


def test_unknown_rooms_raise_store_error(store: Store) -> None:
    for call in (
        lambda: store.load_room("nope"),
        lambda: store.turn_count("nope"),
        lambda: store.load_turns("nope", 0, 1),
        lambda: store.rename_room("nope", "x"),
        lambda: store.set_pinned("nope", True),
        lambda: store.delete_room("nope"),
        lambda: store.restore_room("nope"),
    ):
        with pytest.raises(StoreError, match="No room with id nope"):
            call()


# ---------------------------------------------------------------- lazy loading


def test_last_turns_loads_only_the_newest(store: Store) -> None:
    room = chat_room([f"prompt {i}" for i in range(100)])
    store.save_room(room)

    partial = store.load_room(room.id, last_turns=10)

    assert store.turn_count(room.id) == 100
    assert [turn.prompt for turn in partial.turns] == [f"prompt {i}" for i in range(90, 100)]
    assert partial.turns == normalised(room).turns[90:]
    assert store.first_turn_index(partial) == 90
    assert store.load_turns(room.id, 0, 3) == room.turns[:3]
    assert store.load_turns(room.id, 98, 500) == room.turns[98:]
    assert store.load_room(room.id, last_turns=500).turns == room.turns
    assert store.load_room(room.id, last_turns=0).turns == []


def test_saves_of_a_partly_loaded_room_go_to_the_right_turns(store: Store) -> None:
    room = chat_room([f"prompt {i}" for i in range(20)])
    store.save_room(room)
    partial = store.load_room(room.id, last_turns=5)

    turn = partial.start_turn("prompt 20")
    store.save_turn(partial, len(partial.turns) - 1)
    turn.replies[SeatId("s1")].append_text("fresh")
    store.save_reply(partial.id, len(partial.turns) - 1, turn.replies[SeatId("s1")], seat_label="one")
    # The UI scrolls up: older turns go in front; indexes shift, the anchor follows.
    partial.turns[:0] = store.load_turns(room.id, 10, 15)
    store.save_room(partial)

    assert store.turn_count(room.id) == 21
    assert store.first_turn_index(partial) == 10
    full = store.load_room(room.id)
    assert [t.prompt for t in full.turns] == [f"prompt {i}" for i in range(21)]
    assert full.turns[20].replies[SeatId("s1")].text == "fresh"
    assert full.turns[:20] == normalised(room).turns


def test_a_full_load_elsewhere_does_not_move_a_partial_rooms_saves(store: Store) -> None:
    room = chat_room([f"prompt {i}" for i in range(8)])
    store.save_room(room)
    partial = store.load_room(room.id, last_turns=2)
    store.load_room(room.id)  # e.g. an export

    reply = partial.turns[-1].replies[SeatId("s2")]
    store.save_reply(partial.id, 1, ended("s2", "rewritten"), seat_label="two")

    assert reply.text == "answer 7 from s2"
    assert store.load_room(room.id).turns[7].replies[SeatId("s2")].text == "rewritten"
    assert store.load_room(room.id).turns[1].replies[SeatId("s2")].text == "answer 1 from s2"


# ---------------------------------------------------------------- search


def test_match_expression_quotes_words_and_prefixes_the_last() -> None:
    assert match_expression("  déjà  vu ") == '"déjà" "vu"*'
    assert match_expression('say "hi" OR NEAR(') == '"say" """hi""" "OR" "NEAR("*'
    assert match_expression("- * ()") is None
    assert match_expression("vitamin c") == '"vitamin" "c"'
    assert match_expression("C++") == '"C++"'
    assert match_expression("naïve_co") == '"naïve_co"*'
    assert match_expression("") is None


def test_search_finds_replies_and_prompts_with_snippets(store: Store) -> None:
    room = chat_room(["Tell me about penguins", "And about seals"])
    room.turns[1].replies[SeatId("s2")].text = "Seals are marine mammals; elephant seals dive deep."
    store.save_room(room)

    (reply_hit,) = store.search("mammal")
    prompt_hits = store.search("penguins")

    assert reply_hit.room_id == room.id
    assert reply_hit.room_title == "Tell me about penguins"
    assert (reply_hit.turn_index, reply_hit.seat_label) == (1, "two")
    assert reply_hit.snippet == f"Seals are marine {SNIPPET_START}mammals{SNIPPET_END}; elephant seals dive deep."
    assert [(h.turn_index, h.seat_label) for h in prompt_hits] == [(0, None)]
    assert f"{SNIPPET_START}penguins{SNIPPET_END}" in prompt_hits[0].snippet
    finished_at = room.turns[1].replies[SeatId("s2")].finished_at
    assert reply_hit.updated_at == pytest.approx(finished_at, abs=1e-5)


def test_search_needs_every_word_and_ignores_accents_and_operators(store: Store) -> None:
    room = chat_room(["Un café au lait", "un thé"])
    store.save_room(room)

    assert [h.turn_index for h in store.search("cafe lait")] == [0]
    assert store.search("cafe the") == []
    assert store.search('"unbalanced AND ( NOT') == []
    assert store.search("-") == []


def test_search_is_newest_first_and_limited(store: Store) -> None:
    older, newer = chat_room(["zebra one"]), chat_room(["zebra two"])
    newer.turns[0].sent_at = older.turns[0].sent_at + 10
    store.save_room(newer)
    store.save_room(older)

    assert [h.room_id for h in store.search("zebra")] == [newer.id, older.id]
    assert len(store.search("answer", limit=1)) == 1
    assert store.search("answer", limit=0) == []


def test_search_skips_the_trash(store: Store) -> None:
    room = chat_room(["hidden treasure"])
    store.save_room(room)
    store.delete_room(room.id)
    assert store.search("treasure") == []
    store.restore_room(room.id)
    assert len(store.search("treasure")) == 1


def test_a_streaming_reply_is_found_once_it_ends(store: Store) -> None:
    room = chat_room([])
    room.add_seat("a/one")
    turn = room.start_turn("hi")
    store.save_turn(room, 0)
    reply = turn.replies[SeatId("s1")]
    reply.append_text("kangaroo")
    store.save_reply(room.id, 0, reply, seat_label="one")
    assert store.search("kangaroo") == []

    reply.move_to(ReplyState.DONE)
    store.save_reply(room.id, 0, reply, seat_label="one")
    store.save_room(room)  # re-saving an ended reply keeps one index entry
    assert [(h.seat_label, h.attempt) for h in store.search("kangaroo")] == [("one", None)]
    entries = index_size(store)

    # Retried, it is still found, as an earlier attempt, under the same index entry.
    room.retry_reply(turn, SeatId("s1"))
    store.save_turn(room, 0)
    assert [(h.seat_label, h.attempt) for h in store.search("kangaroo")] == [("one", 1)]
    assert index_size(store) == entries


# ---------------------------------------------------------------- earlier attempts


def retried(store: Store) -> tuple[Room, Reply]:
    """A one-seat room whose reply dropped, was retried and is streaming again, saved
    as the session saves it: the turn once, then the reply at each change."""
    room = chat_room([], models=("a/one",))
    turn = room.start_turn("hi")
    store.save_turn(room, 0)
    first = turn.replies[SeatId("s1")]
    first.sent_at = first.created_at
    first.append_text("the first wombat")
    first.usage = Usage(5, 3, 8, 0.002)
    first.error = "The connection closed before the reply was complete."
    first.move_to(ReplyState.INTERRUPTED)
    store.save_reply(room.id, 0, first, seat_label="one")
    room.retry_reply(turn, SeatId("s1"))
    second = turn.replies[SeatId("s1")]
    second.append_text("the second")
    store.save_reply(room.id, 0, second, seat_label="one")
    return room, second


def test_a_retry_keeps_the_earlier_reply_in_the_store(open_store: Callable[[], Store]) -> None:
    store = open_store()
    room, second = retried(store)

    loaded = open_store().load_room(room.id).turns[0].replies[SeatId("s1")]

    assert (loaded.text, loaded.attempt) == ("the second", 2)
    (first,) = loaded.attempts
    assert first == room.turns[0].replies[SeatId("s1")].attempts[0]
    assert (first.text, first.state, first.usage) == (
        "the first wombat", ReplyState.INTERRUPTED, Usage(5, 3, 8, 0.002))
    assert first.error is not None and first.attempts == []


def test_every_attempt_survives_more_retries_and_a_resave(store: Store) -> None:
    room, second = retried(store)
    turn = room.turns[0]
    second.move_to(ReplyState.STOPPED)
    store.save_reply(room.id, 0, second, seat_label="one")
    room.retry_reply(turn, SeatId("s1"))
    third = turn.replies[SeatId("s1")]
    third.error = "The model is unavailable"
    third.move_to(ReplyState.FAILED)
    store.save_reply(room.id, 0, third, seat_label="one")
    store.save_room(room)

    loaded = store.load_room(room.id)

    assert loaded == normalised(room)
    reply = loaded.turns[0].replies[SeatId("s1")]
    assert [(a.text, a.state) for a in reply.attempts] == [
        ("the first wombat", ReplyState.INTERRUPTED), ("the second", ReplyState.STOPPED)]
    assert (reply.attempt, reply.state) == (3, ReplyState.FAILED)
    assert attempt_rows(store) == [(1, "interrupted"), (2, "stopped")]


def attempt_rows(store: Store) -> list[tuple[int, str]]:
    rows = raw_db(store).execute("SELECT attempt, state FROM reply_attempts ORDER BY attempt")
    return [(int(number), str(state)) for number, state in rows]


def test_saving_a_retried_reply_costs_no_more_statements(store: Store) -> None:
    """The hot path: once its attempts are stored, a retried reply saves like any other."""
    plain = chat_room(["hi"], models=("a/one",))
    plain.turns[0].replies[SeatId("s1")] = Reply(SeatId("s1"))
    store.save_turn(plain, 0)
    room, second = retried(store)

    def statements(save: Callable[[], None]) -> list[str]:
        seen: list[str] = []
        raw_db(store).set_trace_callback(seen.append)
        try:
            save()
        finally:
            raw_db(store).set_trace_callback(None)
        return seen

    reply = plain.turns[0].replies[SeatId("s1")]
    reply.append_text("more")
    second.append_text(" more")
    baseline = statements(lambda: store.save_reply(plain.id, 0, reply, seat_label="one"))
    after_retry = statements(lambda: store.save_reply(room.id, 0, second, seat_label="one"))
    assert len(after_retry) == len(baseline)
    assert not any("reply_attempts" in statement for statement in after_retry)


def test_a_copy_with_fewer_attempts_than_stored_replaces_them(store: Store) -> None:
    room, second = retried(store)
    stale = Reply(SeatId("s1"))
    stale.append_text("from an older copy")
    stale.move_to(ReplyState.DONE)
    store.save_reply(room.id, 0, stale, seat_label="one")

    reply = store.load_room(room.id).turns[0].replies[SeatId("s1")]
    assert (reply.text, reply.attempts) == ("from an older copy", [])
    assert attempt_rows(store) == []
    assert store.search("wombat") == []


def test_earlier_attempts_load_with_their_turns_only(store: Store) -> None:
    room = chat_room(["one", "two", "three"], models=("a/one", "b/two"))
    for turn in (room.turns[0], room.turns[2]):
        room.retry_reply(turn, SeatId("s2"))
        turn.replies[SeatId("s2")].move_to(ReplyState.STOPPED)
    store.save_room(room)

    last = store.load_room(room.id, last_turns=2)
    assert [len(t.replies[SeatId("s2")].attempts) for t in last.turns] == [0, 1]
    assert [t.replies[SeatId("s2")].attempts for t in store.load_turns(room.id, 0, 1)] == [
        room.turns[0].replies[SeatId("s2")].attempts]
    assert last.retried_turns(SeatId("s2")) == [1]
    assert last.retried_turns(SeatId("s1")) == []


def test_a_crash_while_a_retry_streams_keeps_every_attempt(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    room, _ = retried(store)
    store.close()

    reopened = open_store()

    assert reopened.interrupted_on_open == 1
    reply = reopened.load_room(room.id).turns[0].replies[SeatId("s1")]
    assert (reply.state, reply.text) == (ReplyState.INTERRUPTED, "the second")
    assert [a.text for a in reply.attempts] == ["the first wombat"]
    assert {(h.attempt, h.snippet) for h in reopened.search("the")} >= {
        (1, f"{SNIPPET_START}the{SNIPPET_END} first wombat"),
        (None, f"{SNIPPET_START}the{SNIPPET_END} second")}


def test_deleting_a_room_for_good_drops_its_attempts(store: Store, clock: Clock) -> None:
    room, second = retried(store)
    second.move_to(ReplyState.DONE)
    store.save_reply(room.id, 0, second, seat_label="one")
    assert index_size(store) == 3  # the prompt, the reply and its earlier attempt
    store.delete_room(room.id, now=clock.now - 31 * DAY_S)
    assert store.purge_trash() == 1
    assert index_size(store) == 0
    assert attempt_rows(store) == []


# ---------------------------------------------------------------- the room list and trash


def test_list_rooms_puts_pinned_first_then_the_newest(store: Store) -> None:
    first, second, third = (chat_room([name]) for name in ("first", "second", "third"))
    for room in (first, second, third):
        store.save_room(room)
    store.set_pinned(first.id, True)
    store.rename_room(second.id, "  Renamed  ")

    summaries = store.list_rooms()

    assert [s.id for s in summaries] == [first.id, third.id, second.id]
    assert [s.pinned for s in summaries] == [True, False, False]
    assert summaries[2].title == "Renamed"
    assert summaries[0].turn_count == 1
    store.set_pinned(first.id, False)
    assert [s.id for s in store.list_rooms()] == [third.id, second.id, first.id]


def test_last_room_id_is_the_newest_outside_the_trash(store: Store) -> None:
    assert store.last_room_id() is None
    older, newer = chat_room(["older"]), chat_room(["newer"])
    store.save_room(older)
    store.save_room(newer)
    assert store.last_room_id() == newer.id
    store.delete_room(newer.id)
    assert store.last_room_id() == older.id
    store.save_reply(older.id, 0, ended("s1", "again"), seat_label="one")
    store.restore_room(newer.id)
    assert store.last_room_id() == older.id


def test_delete_can_be_undone_until_the_trash_is_purged(store: Store) -> None:
    kept, trashed = chat_room(["kept"]), chat_room(["trashed"])
    store.save_room(kept)
    store.save_room(trashed)
    deleted_at = 1_800_000_000.0

    store.delete_room(trashed.id, now=deleted_at)
    assert [s.id for s in store.list_rooms()] == [kept.id]
    (summary,) = [s for s in store.list_rooms(include_deleted=True) if s.id == trashed.id]
    assert summary.deleted_at == deleted_at
    store.restore_room(trashed.id)
    assert {s.id for s in store.list_rooms()} == {kept.id, trashed.id}

    store.delete_room(trashed.id, now=deleted_at)
    assert store.purge_trash(now=deleted_at + 29 * DAY_S) == 0
    assert store.load_room(trashed.id).title == "trashed"
    assert store.purge_trash(now=deleted_at + 31 * DAY_S) == 1
    with pytest.raises(StoreError):
        store.load_room(trashed.id)
    assert [s.id for s in store.list_rooms(include_deleted=True)] == [kept.id]
    assert index_size(store) == 3  # kept's prompt and two replies


def index_size(store: Store) -> int:
    return int(raw_db(store).execute("SELECT count(*) FROM search_index").fetchone()[0])


def raw_db(store: Store) -> sqlite3.Connection:
    """The store's own connection, to look behind the API or tamper with a file."""
    db = store._db
    assert db is not None
    return db


# ---------------------------------------------------------------- the file


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_the_files_are_private_whatever_the_umask(db_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        with Store(db_path) as store:
            store.save_room(chat_room(["secret"]))
            names = {p.name for p in db_path.parent.iterdir()}
            assert {"chatroom.sqlite3", "chatroom.sqlite3-wal", "chatroom.sqlite3-shm"} <= names
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in db_path.parent.iterdir()}
    finally:
        os.umask(old_umask)
    assert set(modes.values()) == {0o600}, modes


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_loose_mode_is_tightened_on_open(db_path: Path) -> None:
    Store(db_path).close()
    db_path.chmod(0o644)
    Store(db_path).close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_a_damaged_file_raises_and_can_be_set_aside(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    junk = os.urandom(8192)
    db_path.write_bytes(junk)
    db_path.with_name(db_path.name + "-wal").write_bytes(b"stale")

    with pytest.raises(StoreError, match=r"The history file .*chatroom\.sqlite3 is damaged: "):
        Store(db_path)
    assert db_path.read_bytes() == junk  # nothing changed behind the user's back

    moved = Store.set_aside(db_path)
    assert moved.name.startswith("chatroom.sqlite3.corrupt-")
    assert moved.read_bytes() == junk
    assert moved.with_name(moved.name + "-wal").read_bytes() == b"stale"
    assert not db_path.exists()
    with Store(db_path) as store:
        assert store.list_rooms() == []
    assert Store.set_aside(db_path) != moved


def test_a_damaged_row_raises_store_error(store: Store) -> None:
    room = chat_room(["hi"])
    store.save_room(room)
    raw_db(store).execute("UPDATE replies SET state = 'exploded' WHERE seat_id = 's1'")
    with pytest.raises(StoreError, match="is damaged: a reply cannot be read"):
        store.load_room(room.id)
    raw_db(store).execute("UPDATE replies SET state = 'done'")
    raw_db(store).execute("UPDATE rooms SET params = '[1]'")
    with pytest.raises(StoreError, match="is damaged: parameters are not a JSON object"):
        store.load_room(room.id)


def test_an_unopenable_path_raises_store_error(db_path: Path) -> None:
    db_path.mkdir(parents=True)
    with pytest.raises(StoreError, match="cannot be opened"):
        Store(db_path)


def test_a_file_from_a_newer_chatroom_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(StoreError, match="newer Chatroom"):
        Store(db_path)


# ---------------------------------------------------------------- migration

# Version 1 as it shipped, written out by hand: no trash columns, no search index.
V1_SCHEMA: Final = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE rooms (id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, params TEXT NOT NULL, system_prompt TEXT NOT NULL,
    next_seat INTEGER NOT NULL);
CREATE INDEX rooms_by_update ON rooms (updated_at);
CREATE TABLE seats (room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seat_id TEXT NOT NULL, position INTEGER NOT NULL, model TEXT NOT NULL,
    endpoint TEXT NOT NULL, params TEXT NOT NULL, label TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room_id, seat_id));
CREATE TABLE turns (room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    turn_index INTEGER NOT NULL, prompt TEXT NOT NULL, sent_at REAL NOT NULL,
    PRIMARY KEY (room_id, turn_index));
CREATE TABLE replies (room_id TEXT NOT NULL, turn_index INTEGER NOT NULL,
    seat_id TEXT NOT NULL, position INTEGER NOT NULL, seat_label TEXT NOT NULL,
    state TEXT NOT NULL, text TEXT NOT NULL, reasoning TEXT NOT NULL, finish_reason TEXT,
    error TEXT, has_usage INTEGER NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
    total_tokens INTEGER, cost_usd REAL, prompt_tokens_estimate INTEGER, ttft_s REAL,
    tokens_per_s REAL, created_at REAL NOT NULL, sent_at REAL, first_token_at REAL,
    finished_at REAL, saved_at REAL NOT NULL,
    PRIMARY KEY (room_id, turn_index, seat_id),
    FOREIGN KEY (room_id, turn_index) REFERENCES turns (room_id, turn_index) ON DELETE CASCADE);
CREATE INDEX replies_unfinished ON replies (state)
    WHERE state IN ('waiting', 'queued', 'streaming');
INSERT INTO rooms VALUES ('r1', 'Old room', 1000.0, 1100.0, '{"temperature": 0.5}', 'sys', 3);
INSERT INTO seats VALUES ('r1', 's1', 0, 'a/one', 'openrouter', '{}', 'one', 0),
                         ('r1', 's2', 1, 'b/two', 'ollama', '{"top_k": 5}', 'two', 0);
INSERT INTO turns VALUES ('r1', 0, 'Tell me about walruses', 1001.0);
INSERT INTO replies VALUES
    ('r1', 0, 's1', 0, 'one', 'done', 'Walruses have tusks.', '', 'stop', NULL, 1,
     10, 5, 15, 0.001, NULL, 0.5, 20.0, 1001.0, 1001.1, 1001.6, 1002.0, 1002.0),
    ('r1', 0, 's2', 1, 'two', 'streaming', 'Walruses live in the Arctic', '', NULL, NULL, 0,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1001.0, 1001.1, 1001.7, NULL, 1003.0);
"""


def test_a_version_1_file_is_upgraded(db_path: Path, open_store: Callable[[], Store]) -> None:
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.executescript(V1_SCHEMA)
    db.close()

    store = open_store()

    assert store.interrupted_on_open == 1
    assert version_of(db_path) == SCHEMA_VERSION
    (summary,) = store.list_rooms()
    assert (summary.title, summary.pinned, summary.deleted_at, summary.turn_count) == (
        "Old room", False, None, 1
    )
    room = store.load_room("r1")
    assert room.params == {"temperature": 0.5}
    assert [(s.id, s.endpoint, s.params) for s in room.seats] == [
        ("s1", "openrouter", {}), ("s2", "ollama", {"top_k": 5})
    ]
    done, cut = room.turns[0].replies.values()
    assert (done.text, done.usage) == ("Walruses have tusks.", Usage(10, 5, 15, 0.001))
    assert (cut.state, cut.error, cut.finished_at) == (ReplyState.INTERRUPTED, INTERRUPTED_ERROR, 1003.0)
    hits = store.search("walruses")
    assert sorted((h.seat_label or "prompt") for h in hits) == ["one", "prompt", "two"]
    store.close()
    open_store().set_pinned("r1", True)  # the new columns work after reopening


# Version 2 as it shipped: version 1's tables and rows, the trash columns, the
# search index with the prompt and the done reply in it.
V2_SCHEMA: Final = V1_SCHEMA.replace("VALUES (1);", "VALUES (2);", 1) + """
ALTER TABLE rooms ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN deleted_at REAL;
ALTER TABLE turns ADD COLUMN fts_rowid INTEGER;
ALTER TABLE replies ADD COLUMN fts_rowid INTEGER;
CREATE VIRTUAL TABLE search_index USING fts5(
    body, room_id UNINDEXED, turn_index UNINDEXED, seat_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4');
INSERT INTO search_index (rowid, body, room_id, turn_index, seat_id) VALUES
    (1001000000, 'Tell me about walruses', 'r1', 0, NULL),
    (1002000000, 'Walruses have tusks.', 'r1', 0, 's1');
UPDATE turns SET fts_rowid = 1001000000;
UPDATE replies SET fts_rowid = 1002000000 WHERE seat_id = 's1';
UPDATE rooms SET pinned = 1;
"""


def test_a_version_2_file_is_upgraded_and_keeps_attempts_from_then_on(
    db_path: Path, open_store: Callable[[], Store]
) -> None:
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.executescript(V2_SCHEMA)
    db.close()

    store = open_store()

    assert version_of(db_path) == SCHEMA_VERSION == 3
    assert store.interrupted_on_open == 1
    (summary,) = store.list_rooms()
    assert (summary.title, summary.pinned, summary.turn_count) == ("Old room", True, 1)
    room = store.load_room("r1")
    done, cut = room.turns[0].replies.values()
    assert (done.text, done.attempt, cut.attempt) == ("Walruses have tusks.", 1, 1)
    assert sorted((h.seat_label or "prompt", h.attempt) for h in store.search("walruses")) == [
        ("one", None), ("prompt", None), ("two", None)]

    room.retry_reply(room.turns[0], SeatId("s1"))
    store.save_turn(room, 0)
    store.close()
    again = open_store()
    reply = again.load_room("r1").turns[0].replies[SeatId("s1")]
    assert (reply.attempt, [a.text for a in reply.attempts]) == (2, ["Walruses have tusks."])
    assert sorted((h.seat_label, h.attempt) for h in again.search("tusks")) == [("one", 1)]


def version_of(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute("SELECT version FROM schema_version").fetchone()[0])
    finally:
        db.close()


# ---------------------------------------------------------------- crash recovery


def test_unfinished_replies_are_marked_interrupted_on_open(
    open_store: Callable[[], Store], clock: Clock
) -> None:
    room = Room()
    for model in ("a/one", "b/two", "c/three"):
        room.add_seat(model)
    turn = room.start_turn("hi")
    store = open_store()
    store.save_turn(room, 0)
    streaming = turn.replies[SeatId("s1")]
    streaming.append_text("half a platypus")
    store.save_reply(room.id, 0, streaming, seat_label="one")
    saved_at = clock.now
    turn.replies[SeatId("s2")].move_to(ReplyState.QUEUED)
    store.save_reply(room.id, 0, turn.replies[SeatId("s2")], seat_label="two")
    store.close()

    reopened = open_store()

    assert reopened.interrupted_on_open == 3
    loaded = reopened.load_room(room.id)
    replies = loaded.turns[0].replies
    assert {r.state for r in replies.values()} == {ReplyState.INTERRUPTED}
    assert {r.error for r in replies.values()} == {INTERRUPTED_ERROR}
    assert replies[SeatId("s1")].text == "half a platypus"
    assert replies[SeatId("s1")].finished_at == saved_at
    assert [h.seat_label for h in reopened.search("platypus")] == ["one"]
    loaded.retry_reply(loaded.turns[0], SeatId("s1"))  # interrupted replies can be retried
    assert reopened.mark_interrupted() == 0


RATE: Final = 400
MAX_TOKENS: Final = 2000
KILL_AFTER_S: Final = 2.5


class ChildOutput:
    """Collects the crash child's `received N` / `saved N` lines in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.received: list[int] = []
        self.saved: list[int] = []
        self.first_text = threading.Event()
        assert process.stdout is not None
        self._stdout = process.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            kind, _, count = line.partition(" ")
            (self.received if kind == "received" else self.saved).append(int(count))
            if kind == "received" and int(count) > 0:
                self.first_text.set()

    def join(self) -> None:
        self._thread.join(5)


def lorem_text() -> str:
    plan = plan_reply(
        parse_model_id("fake/lorem"),
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": MAX_TOKENS},
        is_listed=True,
    )
    assert isinstance(plan, ReplyPlan)
    return "".join(plan.content)


def run_and_kill(db_path: Path, stderr_path: Path) -> ChildOutput:
    """Run the crash child against a fake server; SIGKILL it KILL_AFTER_S into its reply."""
    with FakeOpenRouter() as server, stderr_path.open("w") as stderr:
        with subprocess.Popen(
            [sys.executable, "-m", "tests.core.store_crash_child", server.base_url, str(db_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
        ) as child:
            output = ChildOutput(child)
            started = output.first_text.wait(15)
            if started:
                time.sleep(KILL_AFTER_S)  # wall time is what the contract is about
            child.kill()
            child.wait()
            output.join()
    assert started, stderr_path.read_text()
    assert child.returncode != 0, "the reply ended before the kill"
    return output


def test_a_killed_writer_loses_at_most_a_second_of_text(tmp_path: Path, db_path: Path) -> None:
    output = run_and_kill(db_path, tmp_path / "child.err")

    with Store(db_path) as store:
        assert store.interrupted_on_open == 1
        room_id = store.last_room_id()
        assert room_id is not None
        reply = store.load_room(room_id).turns[0].replies[SeatId("s1")]

    full = lorem_text()
    assert reply.state is ReplyState.INTERRUPTED
    assert reply.error == INTERRUPTED_ERROR
    assert 0 < len(reply.text) < len(full)
    assert full.startswith(reply.text)
    assert len(reply.text) >= max(output.saved)
    # A second of tokens at RATE, with half again as margin for a loaded machine.
    second_of_text = RATE * len(full) / MAX_TOKENS
    assert len(reply.text) >= max(output.received) - 1.5 * second_of_text
