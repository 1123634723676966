"""Tests for chatroom.core.room: the reply state machine and each seat's thread."""

from __future__ import annotations

import itertools

import pytest

from chatroom.core.errors import ParameterError, ReplyStateError
from chatroom.core.room import Reply, ReplyState, Room, Seat, SeatId, Turn, short_label

S = ReplyState
SEAT = SeatId("s1")

# Written out here rather than read from room._NEXT, so a change to the machine
# has to be made twice on purpose (ARCHITECTURE.md, "The model").
ALLOWED: dict[ReplyState, set[ReplyState]] = {
    S.WAITING: {S.QUEUED, S.STREAMING, S.STOPPED, S.FAILED, S.INTERRUPTED},
    S.QUEUED: {S.WAITING, S.STREAMING, S.STOPPED, S.FAILED, S.INTERRUPTED},
    S.STREAMING: {S.DONE, S.STOPPED, S.FAILED, S.INTERRUPTED},
    S.DONE: set(),
    S.STOPPED: set(),
    S.FAILED: set(),
    S.INTERRUPTED: set(),
}
PAIRS = list(itertools.product(ReplyState, ReplyState))
ALLOWED_PAIRS = [(a, b) for a, b in PAIRS if b in ALLOWED[a]]
FORBIDDEN_PAIRS = [(a, b) for a, b in PAIRS if b not in ALLOWED[a]]


def pair_id(pair: tuple[ReplyState, ReplyState]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


# ---------------------------------------------------------------- state machine


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=pair_id)
def test_every_allowed_move_works(pair: tuple[ReplyState, ReplyState]) -> None:
    start, end = pair
    reply = Reply(SEAT, state=start)
    reply.move_to(end)
    assert reply.state is end
    assert (reply.finished_at is not None) is end.is_terminal


@pytest.mark.parametrize("pair", FORBIDDEN_PAIRS, ids=pair_id)
def test_every_forbidden_move_raises(pair: tuple[ReplyState, ReplyState]) -> None:
    start, end = pair
    reply = Reply(SEAT, state=start)
    with pytest.raises(ReplyStateError, match=f"from {start.value} to {end.value}"):
        reply.move_to(end)
    assert reply.state is start
    assert reply.finished_at is None


def test_terminal_states() -> None:
    assert {s for s in ReplyState if s.is_terminal} == {S.DONE, S.STOPPED, S.FAILED, S.INTERRUPTED}
    assert {s for s in ReplyState if s.is_active} == {S.WAITING, S.QUEUED, S.STREAMING}


def test_partial_replies_are_the_early_endings() -> None:
    assert {s for s in ReplyState if Reply(SEAT, state=s).is_partial} == {
        S.STOPPED, S.FAILED, S.INTERRUPTED,
    }  # fmt: skip


def test_a_full_life() -> None:
    reply = Reply(SEAT)
    states = [reply.state]
    reply.move_to(S.QUEUED)
    reply.move_to(S.WAITING)
    reply.append_text("Hel")
    states.append(reply.state)
    reply.append_text("lo")
    reply.move_to(S.DONE)
    states.append(reply.state)
    assert states == [S.WAITING, S.STREAMING, S.DONE]
    assert reply.text == "Hello"
    assert reply.finished_at is not None


# ---------------------------------------------------------------- text


@pytest.mark.parametrize("start", [S.WAITING, S.QUEUED])
def test_first_text_moves_to_streaming(start: ReplyState) -> None:
    reply = Reply(SEAT, state=start)
    assert reply.first_token_at is None
    reply.append_text("a")
    assert reply.state is S.STREAMING
    assert reply.first_token_at is not None


def test_first_reasoning_moves_to_streaming_too() -> None:
    reply = Reply(SEAT)
    reply.append_reasoning("Let me")
    reply.append_reasoning(" think.")
    assert reply.state is S.STREAMING
    assert reply.reasoning == "Let me think."
    assert reply.text == ""
    assert reply.first_token_at is not None


def test_first_token_time_is_kept_from_the_first_piece() -> None:
    reply = Reply(SEAT)
    reply.append_text("a")
    first = reply.first_token_at
    reply.append_text("b")
    assert reply.first_token_at == first


def test_text_joins_the_pieces() -> None:
    reply = Reply(SEAT)
    assert reply.text == ""
    pieces = ["Hé", "llo", " ", "", "wörld", "!"]
    for piece in pieces:
        reply.append_text(piece)
    assert reply.text == "Héllo wörld!"
    reply.append_text(" more")
    assert reply.text == "Héllo wörld! more"
    assert reply.text == "Héllo wörld! more"  # reading twice changes nothing


def test_text_can_be_set() -> None:
    reply = Reply(SEAT)
    reply.append_text("old")
    reply.text = "new"
    assert reply.text == "new"
    reply.text = ""
    assert reply.text == ""
    reply.append_text("x")
    assert reply.text == "x"


def test_the_repr_leaves_out_the_text_parts() -> None:
    reply = Reply(SEAT)
    reply.append_text("secret-ish")
    assert "_text_parts" not in repr(reply)


# ---------------------------------------------------------------- seats


def test_short_label() -> None:
    assert short_label("anthropic/claude-3.5-haiku") == "claude-3.5-haiku"
    assert short_label("llama3.2") == "llama3.2"
    assert short_label("odd/") == "odd/"


def test_seat_label_defaults_to_the_short_model_name() -> None:
    assert Seat(SEAT, "openai/gpt-4o-mini").label == "gpt-4o-mini"
    assert Seat(SEAT, "openai/gpt-4o-mini", label="mine").label == "mine"


def test_the_same_model_seated_twice_gets_distinct_labels() -> None:
    room = Room()
    seats = [room.add_seat("openai/gpt-4o-mini", params={"temperature": t}) for t in (0.2, 1.0, 1.8)]
    assert [s.label for s in seats] == [
        "gpt-4o-mini · t=0.2",
        "gpt-4o-mini · t=1",
        "gpt-4o-mini · t=1.8",
    ]
    same = [room.add_seat("openai/gpt-4o-mini") for _ in range(2)]
    assert [s.label for s in same] == ["gpt-4o-mini", "gpt-4o-mini #2"]
    assert len({s.id for s in seats}) == 3
    assert seats[0].params == {"temperature": 0.2}


def test_overrides_relabel_only_their_seat() -> None:
    room = Room()
    a, b = room.add_seat("a/x"), room.add_seat("a/x")
    room.set_overrides(a.id, {"temperature": 0.2, "top_k": 40, "stop": ["END"]})
    assert (a.label, b.label) == ("x · t=0.2 k=40 stop", "x #2")
    room.set_overrides(a.id, {})
    assert (a.label, b.label) == ("x", "x #2")
    with pytest.raises(ParameterError):
        room.set_overrides(a.id, {"temperature": 9})


def test_labels_stay_distinct_after_a_removal() -> None:
    room = Room()
    a = room.add_seat("m/x")
    b = room.add_seat("m/x")
    room.remove_seat(a.id)
    c = room.add_seat("m/x")
    assert (b.label, c.label) == ("x #2", "x")
    assert c.id not in (a.id, b.id)


def test_add_seat_strips_and_rejects_an_empty_model() -> None:
    room = Room()
    assert room.add_seat("  fake/echo ").model == "fake/echo"
    with pytest.raises(ValueError, match="model id"):
        room.add_seat("   ")


def test_seat_lookup() -> None:
    room = Room()
    seat = room.add_seat("fake/echo", endpoint="local")
    assert room.seat(seat.id) is seat
    assert seat.endpoint == "local"
    with pytest.raises(KeyError):
        room.seat(SeatId("nope"))


def test_effective_params_are_defaults_then_room_then_seat() -> None:
    room = Room(params={"temperature": 0.5, "top_p": 0.9})
    seat = room.add_seat("fake/echo", params={"temperature": 1.0, "max_tokens": 64})
    assert room.effective_params(seat) == {"top_p": 0.9, "max_tokens": 64}


# ---------------------------------------------------------------- turns


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_rejected(prompt: str) -> None:
    room = Room()
    room.add_seat("fake/echo")
    with pytest.raises(ValueError, match="empty prompt"):
        room.start_turn(prompt)
    assert room.turns == []


def test_a_turn_has_a_waiting_reply_per_seat() -> None:
    room = Room()
    a, b = room.add_seat("fake/echo"), room.add_seat("fake/lorem")
    turn = room.start_turn("Hello")
    assert list(turn.replies) == [a.id, b.id]
    assert all(r.state is S.WAITING and r.seat_id == sid for sid, r in turn.replies.items())


def test_the_title_is_the_first_line_of_the_first_prompt() -> None:
    room = Room()
    room.start_turn("  First line\nsecond line")
    room.start_turn("Another")
    assert room.title == "First line"
    long = Room()
    long.start_turn("x" * 200)
    assert long.title == "x" * 80


def _finish(reply: Reply, text: str, state: ReplyState) -> None:
    if text:
        reply.append_text(text)
    reply.move_to(state)


def test_each_seat_sees_its_own_thread() -> None:
    room = Room(system_prompt="Be brief.")
    a, b = room.add_seat("m/a"), room.add_seat("m/b")
    t1 = room.start_turn("one")
    _finish(t1.replies[a.id], "a1", S.DONE)
    _finish(t1.replies[b.id], "b1 partial", S.FAILED)
    t2 = room.start_turn("two")
    _finish(t2.replies[a.id], "a2 partial", S.STOPPED)
    _finish(t2.replies[b.id], "b2", S.DONE)
    t3 = room.start_turn("three")

    assert room.messages_for(a.id, t3) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "a2 partial"},  # stopped: sent as it stands
        {"role": "user", "content": "three"},
    ]
    assert room.messages_for(b.id, t3) == [
        {"role": "system", "content": "Be brief."},
        # turn one failed for b: left out with its prompt
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "b2"},
        {"role": "user", "content": "three"},
    ]


def test_interrupted_replies_are_kept_and_empty_ones_left_out() -> None:
    room = Room()
    seat = room.add_seat("m/a")
    t1 = room.start_turn("one")
    _finish(t1.replies[seat.id], "cut", S.INTERRUPTED)
    t2 = room.start_turn("two")
    _finish(t2.replies[seat.id], "", S.STOPPED)
    t3 = room.start_turn("three")
    assert room.messages_for(seat.id, t3) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "cut"},
        {"role": "user", "content": "three"},
    ]


def test_a_blank_system_prompt_is_not_sent() -> None:
    room = Room(system_prompt="  \n")
    seat = room.add_seat("m/a")
    turn = room.start_turn("hi")
    assert room.messages_for(seat.id, turn) == [{"role": "user", "content": "hi"}]


def test_history_stops_at_the_turn_asked_for() -> None:
    room = Room()
    seat = room.add_seat("m/a")
    t1 = room.start_turn("one")
    _finish(t1.replies[seat.id], "a1", S.DONE)
    t2 = room.start_turn("two")
    room.start_turn("three")
    assert room.messages_for(seat.id, t2) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "two"},
    ]


def test_a_seat_added_later_sees_only_the_prompts_it_answered() -> None:
    room = Room()
    a = room.add_seat("m/a")
    t1 = room.start_turn("one")
    _finish(t1.replies[a.id], "a1", S.DONE)
    late = room.add_seat("m/late")
    t2 = room.start_turn("two")
    assert room.messages_for(late.id, t2) == [{"role": "user", "content": "two"}]


def test_a_turn_outside_the_room_gets_the_whole_thread() -> None:
    room = Room()
    seat = room.add_seat("m/a")
    t1 = room.start_turn("one")
    _finish(t1.replies[seat.id], "a1", S.DONE)
    draft = Turn("draft")  # not started: e.g. a preview of what would be sent
    assert room.messages_for(seat.id, draft) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "draft"},
    ]


# ---------------------------------------------------------------- retry


@pytest.mark.parametrize("ended", [S.DONE, S.STOPPED, S.FAILED, S.INTERRUPTED])
def test_retry_replaces_an_ended_reply(ended: ReplyState) -> None:
    room = Room()
    seat = room.add_seat("m/a")
    turn = room.start_turn("hi")
    old = turn.replies[seat.id]
    old.append_text("partial")
    old.move_to(ended)
    returned = room.retry_reply(turn, seat.id)
    assert returned is old
    assert (returned.state, returned.text) == (ended, "partial")
    fresh = turn.replies[seat.id]
    assert fresh is not old
    assert (fresh.state, fresh.text, fresh.seat_id) == (S.WAITING, "", seat.id)
    assert fresh.attempts == [old]
    assert (old.attempt, fresh.attempt) == (1, 2)


def test_each_retry_keeps_every_earlier_attempt_oldest_first() -> None:
    room = Room()
    seat = room.add_seat("m/a")
    turn = room.start_turn("hi")
    texts = ["first", "", "third"]
    for text in texts:
        reply = turn.replies[seat.id]
        if text:
            reply.append_text(text)
        reply.move_to(S.STOPPED if text else S.FAILED)
        room.retry_reply(turn, seat.id)
    current = turn.replies[seat.id]
    assert [a.text for a in current.attempts] == texts
    assert all(a.attempts == [] for a in current.attempts)  # only the current reply holds them
    assert current.attempt == 4
    assert room.retried_turns(seat.id) == [0]


def test_earlier_attempts_are_never_sent() -> None:
    room = Room()
    seat = room.add_seat("m/a")
    turn = room.start_turn("one")
    turn.replies[seat.id].append_text("dropped half")
    turn.replies[seat.id].move_to(S.INTERRUPTED)
    room.retry_reply(turn, seat.id)
    turn.replies[seat.id].append_text("whole answer")
    turn.replies[seat.id].move_to(S.DONE)
    assert room.history_for(seat.id) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "whole answer"},
    ]


def test_a_snapshot_has_its_own_list_of_the_same_attempts() -> None:
    room = Room()
    seat = room.add_seat("m/a")
    turn = room.start_turn("hi")
    turn.replies[seat.id].move_to(S.FAILED)
    room.retry_reply(turn, seat.id)
    reply = turn.replies[seat.id]
    copy = reply.snapshot()
    assert copy.attempts == reply.attempts and copy.attempts is not reply.attempts
    assert copy.attempts[0] is reply.attempts[0]
    assert "attempts" not in repr(reply)


@pytest.mark.parametrize("active", [S.WAITING, S.QUEUED, S.STREAMING])
def test_retry_refuses_an_active_reply(active: ReplyState) -> None:
    room = Room()
    seat = room.add_seat("m/a")
    turn = room.start_turn("hi")
    turn.replies[seat.id].state = active
    with pytest.raises(ValueError, match="ended reply"):
        room.retry_reply(turn, seat.id)
    assert turn.replies[seat.id].state is active


def test_turn_defaults() -> None:
    turn = Turn("p")
    assert turn.replies == {}
    assert turn.sent_at > 0
