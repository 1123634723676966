"""How many turns the panes show: at most 30, within a character budget, never fewer than two."""

from __future__ import annotations

from chatroom.core.room import ReplyState, Room
from chatroom.ui.shown_turns import MAX_SHOWN_PROMPT_CHARS, MAX_SHOWN_TURNS, SHOWN_CHARS, shown_turn_count


def room_of(*reply_sizes: int, seats: int = 2) -> Room:
    """A room whose turn n has replies of reply_sizes[n] characters from every seat."""
    room = Room()
    for i in range(seats):
        room.add_seat(f"fake/echo?seat={i}")
    for n, size in enumerate(reply_sizes):
        turn = room.start_turn(f"prompt {n}")
        for reply in turn.replies.values():
            reply.move_to(ReplyState.STREAMING)
            reply.append_text("x" * size)
            reply.move_to(ReplyState.DONE)
    return room


def test_a_short_room_is_shown_whole() -> None:
    assert shown_turn_count(Room()) == 0
    assert shown_turn_count(room_of(100, 100, 100)) == 3


def test_at_most_the_last_30_turns_are_shown() -> None:
    assert shown_turn_count(room_of(*[100] * (MAX_SHOWN_TURNS + 12))) == MAX_SHOWN_TURNS


def test_long_replies_are_shown_within_the_budget() -> None:
    size = SHOWN_CHARS // 10
    count = shown_turn_count(room_of(*[size] * 25))
    assert 2 < count < 25
    prompts = sum(len(f"prompt {n}") for n in range(25 - count, 25))
    assert count * size + prompts <= SHOWN_CHARS < (count + 1) * size + prompts


def test_the_longest_pane_decides_for_every_pane() -> None:
    room = room_of(*[SHOWN_CHARS // 10] * 25)
    short = room_of(*[SHOWN_CHARS // 10] * 25)
    for turn in room.turns:
        next(iter(turn.replies.values())).text = "short"  # one seat answers briefly
    assert shown_turn_count(room) == shown_turn_count(short)


def test_a_new_turn_after_a_1_mb_reply_still_shows_that_reply() -> None:
    room = room_of(100, 100, 1_000_000)
    room.start_turn("and now?")
    assert shown_turn_count(room) == 2
    assert shown_turn_count(room_of(100, 1_000_000)) == 2


def test_a_huge_prompt_counts_as_much_as_is_shown() -> None:
    room = room_of(*[0] * 10)
    room.turns[0].prompt = "p" * (MAX_SHOWN_PROMPT_CHARS * 50)
    assert shown_turn_count(room) == 10
