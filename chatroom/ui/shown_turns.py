"""How many of a room's latest turns the reply panes show.

Shown text is the app's largest cost in memory, and it is Qt's: once a
QTextBrowser has laid a block out, its QTextEngine keeps the shaped glyphs
for reuse (QTextEngine::freeMemory() does not free them), about 40-80 bytes
per character, against 2-4 for the text itself; clearing the layout, turning
the cache off or malloc_trim() give nothing back. Only taking the text out
of the document frees it. So the panes show the last turns of a long room,
and a note above them offers the rest ("Show all"); the room and the store
keep every turn, and everything else (export, diff, search, the comparison
strip, the history sent to the models) reads the room.

Every pane shows the same turns, so that panes scrolled together stay level.
The count is decided from the room, not from each pane: at most
`MAX_SHOWN_TURNS`, and no more than fit `SHOWN_CHARS` in every seat's pane,
but never fewer than `MIN_SHOWN_TURNS` (the new turn and the one it follows,
however long: a 1 MB reply is shown whole). Measurements: docs/performance.md,
Memory.
"""

from __future__ import annotations

from typing import Final

from chatroom.core.room import Room, SeatId, Turn

__all__ = ["MAX_SHOWN_PROMPT_CHARS", "MAX_SHOWN_TURNS", "MIN_SHOWN_TURNS", "SHOWN_CHARS", "shown_turn_count"]

#: At most this many turns are shown in each pane; older ones are behind the note.
MAX_SHOWN_TURNS: Final = 30
#: Characters of prompts and replies one pane shows at most (the latest
#: `MIN_SHOWN_TURNS` turns excepted): about 4 MB of layout per pane, some
#: 1,000 lines of a pane's width. 120,000 kept a reopened room of 8 KB
#: replies 14-17 MB over the 130 MB idle target (docs/performance.md).
SHOWN_CHARS: Final = 60_000
#: The new turn and the one before it are always shown, whatever their length.
MIN_SHOWN_TURNS: Final = 2
#: A pasted document can be megabytes: the pane shows its start (it is sent and
#: stored whole); laying out 5 MB of text took 1.6 s per pane.
MAX_SHOWN_PROMPT_CHARS: Final = 20_000


def shown_turn_count(room: Room) -> int:
    """How many of the room's last turns the panes show (all of them in a short room)."""
    used = dict.fromkeys((seat.id for seat in room.seats), 0)
    for count, turn in enumerate(reversed(room.turns), start=1):
        if count > MAX_SHOWN_TURNS:
            return MAX_SHOWN_TURNS
        for seat_id in used:
            used[seat_id] += _shown_chars(turn, seat_id)
        if count > MIN_SHOWN_TURNS and max(used.values(), default=0) > SHOWN_CHARS:
            return count - 1
    return len(room.turns)


def _shown_chars(turn: Turn, seat_id: SeatId) -> int:
    reply = turn.replies.get(seat_id)
    shown = min(len(turn.prompt), MAX_SHOWN_PROMPT_CHARS)
    return shown if reply is None else shown + len(reply.text)
