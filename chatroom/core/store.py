"""The history store: rooms, seats, turns and replies in SQLite, with full-text search.

The file is `<data dir>/chatroom/chatroom.sqlite3` (`paths.database_path()`),
created owner-only (0o600; SQLite gives its -wal and -shm files the same
mode) and kept in WAL mode with `synchronous=NORMAL`: a commit survives a
crash of Chatroom at once and a power cut after the next checkpoint, and never
corrupts the file. Every change is one transaction.

Threading. One connection, opened with `check_same_thread=False`, and one lock
that serialises every public method. The UI still calls the store from its
single-thread executor (STYLE.md rule 10) so the GUI thread never waits on
the disk; the lock makes a call from any other thread (the CLI, a test, a
second executor by mistake) safe as well, instead of an error from sqlite3.

Turn indexes. `load_room(last_turns=N)` returns a Room holding only the last
N turns. `save_room`, `save_turn` and `save_reply` take indexes into
`room.turns` as the caller holds it; the store remembers where such a partly
loaded Room starts (by the identity of its first loaded Turn, so older turns
put in front of `room.turns` later are counted) and writes to the right
turns. `turn_count`, `load_turns` and `SearchHit.turn_index` count from the
start of the whole conversation; `first_turn_index(room)` converts.

Streaming. `save_reply` is the hot path: one UPSERT of the reply row in one
transaction. A reply is put in the full-text index, and its metrics are
computed, when it reaches a terminal state: indexing 1 MB of text costs
about 0.1 s and estimating its tokens 20 ms, too much for once a second, and
a reply being written is not worth finding yet (saving the 1 MB row alone
takes about 6 ms). Opening the store marks the
replies a crash left waiting, queued or streaming as interrupted, and indexes
them.

Earlier attempts. A manually retried reply keeps the replies it replaced
(`Reply.attempts`); they live in `reply_attempts`, one row per attempt,
while `replies` holds the current one and its attempt number. A save whose
reply has the attempt number its row already holds writes no attempts, so
the hot path costs the same as before; the first save after a retry writes
the missing attempts in the same transaction as the new reply, so the old
text is never overwritten before it is kept. The replaced reply's search
index entry moves with it instead of being indexed again.

Search. FTS5 over prompts and reply texts, earlier attempts included (a
user looking for a sentence they read does not know it was retried away;
`SearchHit.attempt` says when the hit is an earlier attempt). A message's
row id in the index is its time in microseconds (bumped past a clash), so
newest first is the index's own order and a search stops after `limit` hits
instead of sorting every match; prefix indexes keep the last word's prefix
match as fast.
Snippets mark matches with SNIPPET_START and SNIPPET_END
(STX/ETX control characters, which Markdown and model output do not use, so
the UI can escape the text and then turn them into highlighting).

Schema history:
  1  rooms, seats, turns, replies, schema_version.
  2  rooms.pinned and rooms.deleted_at (the trash), the search_index FTS5 table
     (backfilled), and fts_rowid links from turns and replies.
  3  replies.attempt and the reply_attempts table (earlier attempts of retried
     replies); nothing to backfill, as earlier versions kept none.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chatroom.core.errors import DamagedStore, StoreError
from chatroom.core.metrics import reply_metrics
from chatroom.core.params import ParamValue
from chatroom.core.room import Reply, ReplyState, Room, Seat, SeatId, Turn, Usage

__all__ = [
    "INTERRUPTED_ERROR",
    "SCHEMA_VERSION",
    "SNIPPET_END",
    "SNIPPET_START",
    "RoomSummary",
    "SearchHit",
    "Store",
    "match_expression",
]

SCHEMA_VERSION: Final = 3
#: The error of a reply found unfinished when the store opens (after a crash).
INTERRUPTED_ERROR: Final = "Chatroom closed before the reply was complete."
#: Put around each match in SearchHit.snippet.
SNIPPET_START: Final = "\x02"
SNIPPET_END: Final = "\x03"
_SNIPPET_TOKENS: Final = 16
_SECONDS_PER_DAY: Final = 86_400
_SQLITE_HEADER: Final = b"SQLite format 3\x00"
# Runs of letters and digits: the tokens of FTS5's unicode61 tokenizer.
_LETTERS: Final = re.compile(r"[^\W_]+")
# Well inside SQLite's signed 64-bit rowids, whatever time a transcript claims.
_MAX_TIME_KEY: Final = 2**62


@dataclass(frozen=True)
class RoomSummary:
    """One room in the history list, without its turns."""

    id: str
    title: str
    created_at: float
    #: The last time a turn or reply of the room was saved.
    updated_at: float
    pinned: bool
    #: When the room went to the trash; None for a room not deleted.
    deleted_at: float | None
    turn_count: int


@dataclass(frozen=True)
class SearchHit:
    """One message matching a search."""

    room_id: str
    room_title: str
    #: Counted from the start of the whole conversation.
    turn_index: int
    #: The seat label of the matching reply; None when the prompt matched.
    seat_label: str | None
    #: Text around the matches, each between SNIPPET_START and SNIPPET_END.
    snippet: str
    #: When the matching message was written: the turn's sent_at for a prompt,
    #: the reply's finished_at (else created_at). Hits come newest first.
    updated_at: float
    #: The number of the earlier attempt that matched (1 is the first); None
    #: when a prompt or a current reply matched.
    attempt: int | None = None


# -- schema -------------------------------------------------------------------

_SCHEMA_V1: Final = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (1)",
    """CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        params TEXT NOT NULL,
        system_prompt TEXT NOT NULL,
        next_seat INTEGER NOT NULL)""",
    "CREATE INDEX rooms_by_update ON rooms (updated_at)",
    """CREATE TABLE seats (
        room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        seat_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        model TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        params TEXT NOT NULL,
        label TEXT NOT NULL,
        removed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (room_id, seat_id))""",
    """CREATE TABLE turns (
        room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        turn_index INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        sent_at REAL NOT NULL,
        PRIMARY KEY (room_id, turn_index))""",
    """CREATE TABLE replies (
        room_id TEXT NOT NULL,
        turn_index INTEGER NOT NULL,
        seat_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        seat_label TEXT NOT NULL,
        state TEXT NOT NULL,
        text TEXT NOT NULL,
        reasoning TEXT NOT NULL,
        finish_reason TEXT,
        error TEXT,
        has_usage INTEGER NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        total_tokens INTEGER,
        cost_usd REAL,
        prompt_tokens_estimate INTEGER,
        ttft_s REAL,
        tokens_per_s REAL,
        created_at REAL NOT NULL,
        sent_at REAL,
        first_token_at REAL,
        finished_at REAL,
        saved_at REAL NOT NULL,
        PRIMARY KEY (room_id, turn_index, seat_id),
        FOREIGN KEY (room_id, turn_index)
            REFERENCES turns (room_id, turn_index) ON DELETE CASCADE)""",
    # Tiny: only unfinished replies are in it, so reopening after a crash
    # finds them without reading the whole table.
    """CREATE INDEX replies_unfinished ON replies (state)
        WHERE state IN ('waiting', 'queued', 'streaming')""",
)

_SCHEMA_V2: Final = (
    "ALTER TABLE rooms ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE rooms ADD COLUMN deleted_at REAL",
    "ALTER TABLE turns ADD COLUMN fts_rowid INTEGER",
    "ALTER TABLE replies ADD COLUMN fts_rowid INTEGER",
    # remove_diacritics 2: "cafe" finds "café". Prefix indexes: without them
    # "du*" over 100,000 messages merges the doclists of every du… word
    # (150 ms); with them 1 ms, for about 40 % more index.
    """CREATE VIRTUAL TABLE search_index USING fts5(
        body, room_id UNINDEXED, turn_index UNINDEXED, seat_id UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4')""",
    "UPDATE schema_version SET version = 2",
)

_SCHEMA_V3: Final = (
    # The current reply's number among its attempts: 1 unless it was retried.
    "ALTER TABLE replies ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1",
    # The replies a manual retry replaced, numbered from 1; the same columns
    # as replies less those that belong to the seat's current reply.
    """CREATE TABLE reply_attempts (
        room_id TEXT NOT NULL,
        turn_index INTEGER NOT NULL,
        seat_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        state TEXT NOT NULL,
        text TEXT NOT NULL,
        reasoning TEXT NOT NULL,
        finish_reason TEXT,
        error TEXT,
        has_usage INTEGER NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        total_tokens INTEGER,
        cost_usd REAL,
        prompt_tokens_estimate INTEGER,
        ttft_s REAL,
        tokens_per_s REAL,
        created_at REAL NOT NULL,
        sent_at REAL,
        first_token_at REAL,
        finished_at REAL,
        fts_rowid INTEGER,
        PRIMARY KEY (room_id, turn_index, seat_id, attempt),
        FOREIGN KEY (room_id, turn_index)
            REFERENCES turns (room_id, turn_index) ON DELETE CASCADE)""",
    "UPDATE schema_version SET version = 3",
)

_REPLY_FIELDS: Final = (
    "seat_label", "state", "text", "reasoning", "finish_reason", "error",
    "has_usage", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd",
    "prompt_tokens_estimate", "ttft_s", "tokens_per_s", "created_at", "sent_at",
    "first_token_at", "finished_at", "saved_at", "fts_rowid", "attempt",
)
_UPSERT_REPLY: Final = f"""
    INSERT INTO replies (room_id, turn_index, seat_id, position, {", ".join(_REPLY_FIELDS)})
    VALUES (:room_id, :turn_index, :seat_id,
            COALESCE(:position, (SELECT count(*) FROM replies
                                 WHERE room_id = :room_id AND turn_index = :turn_index)),
            {", ".join(":" + name for name in _REPLY_FIELDS)})
    ON CONFLICT (room_id, turn_index, seat_id) DO UPDATE SET
        position = COALESCE(:position, position),
        {", ".join(f"{name} = excluded.{name}" for name in _REPLY_FIELDS)}"""
_ATTEMPT_FIELDS: Final = (
    "state", "text", "reasoning", "finish_reason", "error", "has_usage", "prompt_tokens",
    "completion_tokens", "total_tokens", "cost_usd", "prompt_tokens_estimate", "ttft_s",
    "tokens_per_s", "created_at", "sent_at", "first_token_at", "finished_at", "fts_rowid",
)
_UPSERT_ATTEMPT: Final = f"""
    INSERT INTO reply_attempts (room_id, turn_index, seat_id, attempt, {", ".join(_ATTEMPT_FIELDS)})
    VALUES (:room_id, :turn_index, :seat_id, :attempt,
            {", ".join(":" + name for name in _ATTEMPT_FIELDS)})
    ON CONFLICT (room_id, turn_index, seat_id, attempt) DO UPDATE SET
        {", ".join(f"{name} = excluded.{name}" for name in _ATTEMPT_FIELDS)}"""
# The columns _reply_from_row reads; reply_attempts has every one of them too.
_REPLY_COLUMNS: Final = (
    "seat_id, state, text, reasoning, finish_reason, error, has_usage, prompt_tokens, "
    "completion_tokens, total_tokens, cost_usd, prompt_tokens_estimate, created_at, "
    "sent_at, first_token_at, finished_at"
)
_UPSERT_ROOM: Final = """
    INSERT INTO rooms (id, title, created_at, updated_at, params, system_prompt, next_seat)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        title = excluded.title, created_at = excluded.created_at,
        updated_at = excluded.updated_at, params = excluded.params,
        system_prompt = excluded.system_prompt, next_seat = excluded.next_seat"""
_UPSERT_SEAT: Final = """
    INSERT INTO seats (room_id, seat_id, position, model, endpoint, params, label, removed)
    VALUES (?, ?, ?, ?, ?, ?, ?, 0)
    ON CONFLICT (room_id, seat_id) DO UPDATE SET
        position = excluded.position, model = excluded.model, endpoint = excluded.endpoint,
        params = excluded.params, label = excluded.label, removed = 0"""
_UPSERT_TURN: Final = """
    INSERT INTO turns (room_id, turn_index, prompt, sent_at, fts_rowid) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (room_id, turn_index) DO UPDATE SET
        prompt = excluded.prompt, sent_at = excluded.sent_at, fts_rowid = excluded.fts_rowid"""
_SUMMARY_QUERY: Final = """
    SELECT id, title, created_at, updated_at, pinned, deleted_at,
           (SELECT COALESCE(max(turn_index) + 1, 0) FROM turns WHERE room_id = rooms.id)
    FROM rooms WHERE ? OR deleted_at IS NULL
    ORDER BY pinned DESC, updated_at DESC"""
# CROSS JOIN keeps the full-text index as the outer loop, so its rowid order
# serves ORDER BY and the LIMIT ends the scan (no sort of every match).
_SEARCH_QUERY: Final = f"""
    SELECT search_index.room_id, r.title, search_index.turn_index, search_index.seat_id,
           p.seat_label,
           snippet(search_index, 0, :start, :end, '…', {_SNIPPET_TOKENS}),
           search_index.rowid,
           (SELECT a.attempt FROM reply_attempts AS a
            WHERE a.room_id = search_index.room_id AND a.turn_index = search_index.turn_index
              AND a.seat_id = search_index.seat_id AND a.fts_rowid = search_index.rowid)
    FROM search_index
    CROSS JOIN rooms AS r ON r.id = search_index.room_id
    LEFT JOIN replies AS p ON p.room_id = search_index.room_id
        AND p.turn_index = search_index.turn_index AND p.seat_id = search_index.seat_id
    WHERE search_index MATCH :query AND r.deleted_at IS NULL
    ORDER BY search_index.rowid DESC LIMIT :limit"""


def match_expression(query: str) -> str | None:
    """The user's words as a safe FTS5 query, or None when nothing is searchable.

    Each word is quoted (FTS5 operators and punctuation lose their meaning)
    and all must occur; the last one also matches as a prefix, so results
    come while the user types, unless it ends in a single letter or digit:
    such a prefix matches too many words to be worth its cost. Words
    without a letter or digit are dropped.
    """
    words = [word for word in query.split() if _LETTERS.search(word)]
    if not words:
        return None
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    if len(_LETTERS.findall(words[-1])[-1]) > 1:
        quoted[-1] += "*"
    return " ".join(quoted)


# -- the store ------------------------------------------------------------------


@dataclass
class _Window:
    """Where a partly loaded Room starts: its first loaded turn and that turn's index."""

    room: weakref.ref[Room]
    anchor: Turn | None
    anchor_index: int


class Store:
    """The conversation history in one SQLite file; see the module docstring.

    Every method raises StoreError (with a message for the user) when the
    file cannot be read or written.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        """Open or create the history at `path`, migrate it, and recover from a crash.

        Raises StoreError when the file cannot be opened, is damaged, or was
        written by a newer Chatroom; nothing is changed or moved then (see
        `set_aside`). `clock` gives the times recorded as updated_at.
        """
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, list[_Window]] = {}
        self._db: sqlite3.Connection | None = _connect(path)
        try:
            self._migrate()
            #: How many unfinished replies opening found and marked interrupted.
            self.interrupted_on_open = self.mark_interrupted()
        except BaseException:
            self.close()
            raise
        # Now that the -wal and -shm exist; best effort, as _connect checked the file.
        with contextlib.suppress(OSError):
            _make_private(path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file; later calls raise StoreError. Closing twice is harmless."""
        with self._lock:
            db, self._db = self._db, None
            if db is None:
                return
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA optimize")
            db.close()

    @staticmethod
    def set_aside(path: Path) -> Path:
        """Rename a damaged history file (and its -wal/-shm) to `<name>.corrupt-<stamp>`.

        Returns the new path, so the user can be told where their data went;
        the next Store(path) starts an empty history. Raises StoreError when
        the rename fails.
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        n = 2
        while target.exists():
            target, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
        try:
            path.rename(target)
            # A stale -wal beside a new file would be replayed into it.
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    side.rename(target.with_name(target.name + suffix))
        except OSError as exc:
            raise StoreError(f"The history file {path} could not be moved aside: {exc}") from exc
        return target

    # -- transactions ----------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one transaction; sqlite3 errors become StoreError."""
        with self._lock:
            db = self._db
            if db is None:
                raise StoreError("The history store is closed.")
            try:
                # IMMEDIATE takes the write lock up front: no upgrade deadlock.
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                if isinstance(exc, (sqlite3.Error, _DamagedData)):
                    raise _translate(self.path, exc) from exc
                raise

    def _migrate(self) -> None:
        with self._transaction(write=True) as db:
            version = _schema_version(db)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The history file {self.path} was written by a newer Chatroom "
                    f"(schema {version}; this one reads up to {SCHEMA_VERSION}). "
                    "Update Chatroom to open it."
                )
            if version < 1:
                _run(db, _SCHEMA_V1)
            if version < 2:
                _run(db, _SCHEMA_V2)
                _backfill_search_index(db)
            if version < 3:
                _run(db, _SCHEMA_V3)

    # -- writing -------------------------------------------------------------------

    def save_room(self, room: Room) -> None:
        """Save the room, its seats and every turn and reply it holds.

        Stored turns missing from `room.turns` are left alone, so a Room with
        no turns saves only its settings. Seats no longer in the room are
        kept, marked removed, so their replies keep their labels. The title
        is written as `room.title`: a caller holding the Room sets it when
        renaming. Costs about 0.3 s for 10,000 unchanged messages: call
        save_turn for a new turn.
        """
        with self._transaction(write=True) as db:
            first = self._first_index(room)
            labels = self._write_room(db, room)
            now = self._clock()
            for offset, turn in enumerate(room.turns):
                _write_turn(db, room.id, first + offset, turn, labels, now)

    def save_turn(self, room: Room, turn_index: int) -> None:
        """Save `room.turns[turn_index]` and all its replies, with the room row and seats.

        Call it when a turn starts (it also stores a new room) and when a
        reply is retried.
        """
        turn_index = range(len(room.turns))[turn_index]  # -1 is the last turn
        turn = room.turns[turn_index]
        with self._transaction(write=True) as db:
            index = self._first_index(room) + turn_index
            labels = self._write_room(db, room)
            _write_turn(db, room.id, index, turn, labels, self._clock())

    def save_reply(self, room_id: str, turn_index: int, reply: Reply, *, seat_label: str) -> None:
        """Save one reply (the streaming hot path): one row, one transaction.

        `turn_index` indexes `room.turns` of the caller's Room. The turn must
        have been saved (save_turn); StoreError otherwise.
        """
        if turn_index < 0:
            raise ValueError("save_reply needs a turn index counted from 0.")
        with self._transaction(write=True) as db:
            index = self._absolute_index(room_id, turn_index)
            if not _turn_exists(db, room_id, index):
                raise StoreError(f"Turn {index} of room {room_id} is not saved; save the turn first.")
            now = self._clock()
            _write_reply(db, room_id, index, reply, seat_label, None, now)
            db.execute("UPDATE rooms SET updated_at = ? WHERE id = ?", (now, room_id))

    def _write_room(self, db: sqlite3.Connection, room: Room) -> dict[str, str]:
        """Upsert the room row and its seats; return every seat's label, removed ones too."""
        db.execute(
            _UPSERT_ROOM,
            (room.id, room.title, room.created_at, self._clock(), _dump(room.params),
             # Private, but kept so that seats added after a reload get fresh ids.
             room.system_prompt, room._next_seat),
        )
        db.execute("UPDATE seats SET removed = 1 WHERE room_id = ?", (room.id,))
        for position, seat in enumerate(room.seats):
            db.execute(
                _UPSERT_SEAT,
                (room.id, seat.id, position, seat.model, seat.endpoint, _dump(seat.params), seat.label),
            )
        rows = db.execute("SELECT seat_id, label FROM seats WHERE room_id = ?", (room.id,))
        return {seat_id: label for seat_id, label in rows}

    def mark_interrupted(self) -> int:
        """Mark every reply left waiting, queued or streaming as interrupted; return how many.

        Such replies exist only when Chatroom ended without finishing them (a
        crash, a kill, a power cut). They keep their text, get
        INTERRUPTED_ERROR, the time of their last save as finished_at, final
        metrics and a place in the search index, and can be retried.
        """
        with self._transaction(write=True) as db:
            rows = db.execute(
                f"SELECT room_id, turn_index, seat_label, saved_at, {_REPLY_COLUMNS} FROM replies "
                "WHERE state IN ('waiting', 'queued', 'streaming')"
            ).fetchall()
            for room_id, turn_index, label, saved_at, *columns in rows:
                reply = _reply_from_row(columns)
                # Loaded so that the save below finds the attempts it expects.
                reply.attempts = _read_attempts(db, room_id, turn_index, reply.seat_id)
                reply.state = ReplyState.INTERRUPTED
                reply.error = INTERRUPTED_ERROR
                reply.finished_at = saved_at
                _write_reply(db, room_id, turn_index, reply, label, None, saved_at)
            return len(rows)

    # -- reading -------------------------------------------------------------------

    def load_room(self, room_id: str, *, last_turns: int | None = None) -> Room:
        """The room with its seats (removed ones left out) and its turns.

        `last_turns` loads only that many of the newest turns, so a long room
        opens fast; older ones come from `load_turns`. Raises StoreError for
        an unknown id.
        """
        if last_turns is not None and last_turns < 0:
            raise ValueError("last_turns cannot be negative.")
        with self._transaction() as db:
            row = _room_row(db, room_id)
            count = _turn_count(db, room_id)
            start = 0 if last_turns is None else max(0, count - last_turns)
            turns = _read_turns(db, room_id, start, count)
            seats, highest = _read_seats(db, room_id)
            title, created_at, params, system_prompt, next_seat = row
            room = Room(
                seats=seats, params=_load_params(params), system_prompt=system_prompt,
                turns=turns, title=title, id=room_id, created_at=created_at,
                _next_seat=max(next_seat, highest + 1),
            )
            if start > 0:
                self._remember_window(room, start)
        return room

    def turn_count(self, room_id: str) -> int:
        """How many turns the room has in all; StoreError for an unknown id."""
        with self._transaction() as db:
            _room_row(db, room_id)
            return _turn_count(db, room_id)

    def load_turns(self, room_id: str, start: int, stop: int) -> list[Turn]:
        """Turns `start` to `stop` (excluded), counted from the start of the conversation.

        The range is clipped to the turns that exist; StoreError for an unknown id.
        """
        with self._transaction() as db:
            _room_row(db, room_id)
            return _read_turns(db, room_id, max(0, start), stop)

    def first_turn_index(self, room: Room) -> int:
        """The index in the whole conversation of `room.turns[0]` (0 unless partly loaded)."""
        with self._lock:
            return self._first_index(room)

    def list_rooms(self, *, include_deleted: bool = False) -> list[RoomSummary]:
        """Every room: pinned first, then the most recently updated first."""
        with self._transaction() as db:
            rows = db.execute(_SUMMARY_QUERY, (include_deleted,)).fetchall()
        return [
            RoomSummary(room_id, title, created_at, updated_at, bool(pinned), deleted_at, turns)
            for room_id, title, created_at, updated_at, pinned, deleted_at, turns in rows
        ]

    def last_room_id(self) -> str | None:
        """The most recently updated room not in the trash; None when there is none."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM rooms WHERE deleted_at IS NULL ORDER BY updated_at DESC LIMIT 1"
            ).fetchone()
        return None if row is None else str(row[0])

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Prompts and replies containing every word of `query`, newest first.

        Rooms in the trash are left out; see `match_expression` for the syntax.
        """
        expression = match_expression(query)
        if expression is None or limit <= 0:
            return []
        with self._transaction() as db:
            rows = db.execute(
                _SEARCH_QUERY,
                {"query": expression, "limit": limit, "start": SNIPPET_START, "end": SNIPPET_END},
            ).fetchall()
        # The row id is the message's time in microseconds (see _index_message).
        return [
            SearchHit(room_id, title, turn_index, None if seat_id is None else label,
                      snippet, rowid / 1_000_000, attempt)
            for room_id, title, turn_index, seat_id, label, snippet, rowid, attempt in rows
        ]

    # -- room management -------------------------------------------------------

    def rename_room(self, room_id: str, title: str) -> None:
        """Give the room a new title (surrounding whitespace removed)."""
        self._update_room(room_id, "title = ?", title.strip())

    def set_pinned(self, room_id: str, pinned: bool) -> None:
        """Pin the room to the top of the list, or unpin it."""
        self._update_room(room_id, "pinned = ?", int(pinned))

    def delete_room(self, room_id: str, *, now: float | None = None) -> None:
        """Move the room to the trash; `restore_room` undoes it until `purge_trash`."""
        self._update_room(room_id, "deleted_at = ?", self._clock() if now is None else now)

    def restore_room(self, room_id: str) -> None:
        """Take the room out of the trash."""
        self._update_room(room_id, "deleted_at = ?", None)

    def _update_room(self, room_id: str, assignment: str, value: object) -> None:
        with self._transaction(write=True) as db:
            cursor = db.execute(f"UPDATE rooms SET {assignment} WHERE id = ?", (value, room_id))
            if cursor.rowcount == 0:
                raise StoreError(f"No room with id {room_id}.")

    def purge_trash(self, *, now: float | None = None, keep_days: int = 30) -> int:
        """Delete for good the rooms in the trash for more than `keep_days`; return how many."""
        cutoff = (self._clock() if now is None else now) - keep_days * _SECONDS_PER_DAY
        with self._transaction(write=True) as db:
            rows = db.execute(
                "SELECT id FROM rooms WHERE deleted_at IS NOT NULL AND deleted_at < ?", (cutoff,)
            ).fetchall()
            ids = [str(row[0]) for row in rows]
            for room_id in ids:
                _delete_room(db, room_id)
        return len(ids)

    # -- partly loaded rooms ---------------------------------------------------

    def _remember_window(self, room: Room, start: int) -> None:
        anchor = room.turns[0] if room.turns else None
        windows = [w for w in self._windows.get(room.id, []) if w.room() is not None]
        windows.append(_Window(weakref.ref(room), anchor, start))
        self._windows[room.id] = windows

    def _first_index(self, room: Room) -> int:
        """Where `room.turns[0]` sits in the whole conversation."""
        for window in self._windows.get(room.id, []):
            if window.room() is room:
                return _window_start(window, room.turns)
        return 0

    def _absolute_index(self, room_id: str, turn_index: int) -> int:
        """`turn_index` of the newest partly loaded Room with this id, in the whole conversation."""
        for window in reversed(self._windows.get(room_id, [])):
            room = window.room()
            if room is not None:
                return _window_start(window, room.turns) + turn_index
        return turn_index


# -- opening ------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    """Create the file owner-only if needed, connect and configure; StoreError on failure."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created here with 0o600 rather than by SQLite with 0o644 minus the umask:
        # SQLite then gives the -wal and -shm files the same mode.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        os.close(fd)
        _make_private(path)
        header = _read_header(path)
    except OSError as exc:
        raise StoreError(f"The history file {path} cannot be opened: {exc}") from exc
    if header and header != _SQLITE_HEADER:
        # Refused before SQLite sees it: closing a connection to such a file
        # deletes its -wal, which may hold the last good data.
        raise _translate(path, _DamagedData("it is not an SQLite database"))
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    except sqlite3.Error as exc:
        raise StoreError(f"The history file {path} cannot be opened: {exc}") from exc
    try:
        # The first statement reads the header: a damaged file fails here.
        db.execute("PRAGMA journal_mode = WAL").fetchone()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        db.close()
        raise _translate(path, exc) from exc
    return db


def _read_header(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(len(_SQLITE_HEADER))


def _make_private(path: Path) -> None:
    """Owner-only modes, whatever the umask or an older Chatroom left."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(name), 0o600)


class _DamagedData(Exception):
    """A row holds something this version cannot have written."""


def _translate(path: Path, exc: sqlite3.Error | _DamagedData) -> StoreError:
    """A StoreError the user can act on, from a sqlite3 error or unreadable data."""
    name = getattr(exc, "sqlite_errorname", "")
    if isinstance(exc, _DamagedData) or name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return DamagedStore(
            f"The history file {path} is damaged: {exc}. Move it aside to start a new "
            "history; the old file is kept for recovery."
        )
    if name.startswith("SQLITE_BUSY"):
        return StoreError(f"The history file {path} is locked by another program: {exc}.")
    return StoreError(f"The history file {path} could not be read or written: {exc}.")


def _schema_version(db: sqlite3.Connection) -> int:
    """The file's schema version; 0 for a new, empty file."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _run(db: sqlite3.Connection, statements: Sequence[str]) -> None:
    # Not executescript(): it commits first, and a migration is one transaction.
    for statement in statements:
        db.execute(statement)


def _backfill_search_index(db: sqlite3.Connection) -> None:
    """Index every prompt and every finished reply of a file that had no index."""
    turns = db.execute("SELECT room_id, turn_index, prompt, sent_at FROM turns").fetchall()
    for room_id, turn_index, prompt, sent_at in turns:
        rowid = _index_message(db, prompt, room_id, turn_index, None, sent_at)
        db.execute(
            "UPDATE turns SET fts_rowid = ? WHERE room_id = ? AND turn_index = ?",
            (rowid, room_id, turn_index),
        )
    replies = db.execute(
        "SELECT room_id, turn_index, seat_id, text, COALESCE(finished_at, created_at) FROM replies "
        "WHERE state NOT IN ('waiting', 'queued', 'streaming') AND text != ''"
    ).fetchall()
    for room_id, turn_index, seat_id, text, at in replies:
        rowid = _index_message(db, text, room_id, turn_index, seat_id, at)
        db.execute(
            "UPDATE replies SET fts_rowid = ? WHERE room_id = ? AND turn_index = ? AND seat_id = ?",
            (rowid, room_id, turn_index, seat_id),
        )


# -- rows -----------------------------------------------------------------------------


def _write_turn(
    db: sqlite3.Connection, room_id: str, index: int, turn: Turn, labels: dict[str, str], now: float
) -> None:
    """Upsert a turn (re-indexing its prompt only if it changed) and its replies."""
    prompt = _storable(turn.prompt)
    old = db.execute(
        "SELECT prompt, fts_rowid FROM turns WHERE room_id = ? AND turn_index = ?", (room_id, index)
    ).fetchone()
    if old is not None and old[0] == prompt and old[1] is not None:
        rowid = old[1]
    else:
        _unindex(db, None if old is None else old[1])
        rowid = _index_message(db, prompt, room_id, index, None, turn.sent_at)
    db.execute(_UPSERT_TURN, (room_id, index, prompt, turn.sent_at, rowid))
    for position, reply in enumerate(turn.replies.values()):
        label = labels.get(reply.seat_id, reply.seat_id)
        _write_reply(db, room_id, index, reply, label, position, now)


def _write_reply(
    db: sqlite3.Connection, room_id: str, index: int, reply: Reply, label: str,
    position: int | None, now: float,
) -> None:
    """Upsert one reply row and any earlier attempts not yet stored.

    Keeps the search index entries in step with the states.
    """
    key: dict[str, object] = {"room_id": room_id, "turn_index": index, "seat_id": reply.seat_id}
    row = db.execute(
        "SELECT fts_rowid, state, attempt FROM replies "
        "WHERE room_id = :room_id AND turn_index = :turn_index AND seat_id = :seat_id",
        key,
    ).fetchone()
    old: tuple[int | None, str] | None = None if row is None else (row[0], row[1])
    stored_attempt = 0 if row is None else int(row[2])
    # Rare: a reply was retried since its row was written, or a new row comes with attempts.
    if (row is not None and stored_attempt != reply.attempt) or (row is None and reply.attempts):
        old = _write_attempts(db, key, reply, old, stored_attempt)
    text = _storable(reply.text)
    values = _reply_values(reply, text)
    fts_rowid = _sync_reply_index(db, key, reply, text, old)
    values.update(
        key, position=position, seat_label=label, saved_at=now, fts_rowid=fts_rowid,
        attempt=reply.attempt,
    )
    db.execute(_UPSERT_REPLY, values)


def _write_attempts(
    db: sqlite3.Connection, key: dict[str, object], reply: Reply,
    old: tuple[int | None, str] | None, stored_attempt: int,
) -> tuple[int | None, str] | None:
    """Store the reply's earlier attempts that its row (holding `stored_attempt`) lacks.

    Attempts before the row's are stored already. The row's own reply, when
    it has become an earlier attempt, takes its search index entry along.
    Returns what is left of the row's index entry for the current reply:
    None once it moved. Stored attempts are always numbered below their
    row's; a Reply with fewer attempts than stored (a copy older than the
    store) drops the extra ones, so the store holds what the caller's Reply holds.
    """
    if stored_attempt > reply.attempt:
        _drop_attempts_from(db, key, reply.attempt)
    for number, attempt in enumerate(reply.attempts, 1):
        if number < stored_attempt:
            continue
        text = _storable(attempt.text)
        moved = old if number == stored_attempt else None
        values = _reply_values(attempt, text)
        values.update(key, attempt=number, fts_rowid=_sync_reply_index(db, key, attempt, text, moved))
        db.execute(_UPSERT_ATTEMPT, values)
        if moved is not None:
            old = None
    return old


def _drop_attempts_from(db: sqlite3.Connection, key: dict[str, object], first: int) -> None:
    """Delete the stored attempts numbered `first` and up, with their index entries."""
    where = (
        "room_id = :room_id AND turn_index = :turn_index AND seat_id = :seat_id "
        "AND attempt >= :first"
    )
    values = {**key, "first": first}
    db.execute(
        f"DELETE FROM search_index WHERE rowid IN (SELECT fts_rowid FROM reply_attempts WHERE {where})",
        values,
    )
    db.execute(f"DELETE FROM reply_attempts WHERE {where}", values)


def _sync_reply_index(
    db: sqlite3.Connection, key: dict[str, object], reply: Reply, text: str,
    old: tuple[int | None, str] | None,
) -> int | None:
    """The reply's row id in the search index after this save (None: not indexed).

    Only ended replies are indexed (see the module docstring). An ended
    reply never changes, so one already indexed in the same state with the
    same length is left alone, which keeps re-saving a whole room cheap.
    `old` is the (fts_rowid, state) the replies row holds for `key`.
    """
    old_rowid = None if old is None else old[0]
    if not reply.state.is_terminal:
        _unindex(db, old_rowid)
        return None
    if old is not None and old_rowid is not None and old[1] == reply.state.value:
        stored = db.execute(
            "SELECT length(text) FROM replies "
            "WHERE room_id = :room_id AND turn_index = :turn_index AND seat_id = :seat_id",
            key,
        ).fetchone()
        if stored[0] == len(text):
            return old_rowid
    _unindex(db, old_rowid)
    if not text:
        return None
    at = reply.finished_at if reply.finished_at is not None else reply.created_at
    return _index_message(db, text, key["room_id"], key["turn_index"], reply.seat_id, at)


def _index_message(
    db: sqlite3.Connection, body: str, room_id: object, turn_index: object,
    seat_id: str | None, at: float,
) -> int:
    """Add one message to the search index under a row id made from its time."""
    rowid = _time_key(at)
    while db.execute("SELECT 1 FROM search_index WHERE rowid = ?", (rowid,)).fetchone():
        rowid += 1
    db.execute(
        "INSERT INTO search_index (rowid, body, room_id, turn_index, seat_id) VALUES (?, ?, ?, ?, ?)",
        (rowid, body, room_id, turn_index, seat_id),
    )
    return rowid


def _unindex(db: sqlite3.Connection, rowid: int | None) -> None:
    if rowid is not None:
        db.execute("DELETE FROM search_index WHERE rowid = ?", (rowid,))


def _time_key(at: float) -> int:
    """Microseconds since the epoch, the search index's newest-first order."""
    if not math.isfinite(at):
        return 0
    return max(-_MAX_TIME_KEY, min(_MAX_TIME_KEY, int(at * 1_000_000)))


def _delete_room(db: sqlite3.Connection, room_id: str) -> None:
    """Delete a room for good: its index entries, then the rows (turns, replies cascade)."""
    db.execute(
        "DELETE FROM search_index WHERE rowid IN ("
        " SELECT fts_rowid FROM turns WHERE room_id = ?1 AND fts_rowid IS NOT NULL"
        " UNION ALL SELECT fts_rowid FROM replies WHERE room_id = ?1 AND fts_rowid IS NOT NULL"
        " UNION ALL SELECT fts_rowid FROM reply_attempts"
        " WHERE room_id = ?1 AND fts_rowid IS NOT NULL)",
        (room_id,),
    )
    db.execute("DELETE FROM rooms WHERE id = ?", (room_id,))


def _reply_values(reply: Reply, text: str) -> dict[str, object]:
    """The reply's own columns (`text` made storable); metrics only once it has ended."""
    usage = reply.usage
    metrics = reply_metrics(reply, started_at=reply.sent_at) if reply.state.is_terminal else None
    return {
        "state": reply.state.value,
        "text": text,
        "reasoning": _storable(reply.reasoning),
        "finish_reason": reply.finish_reason,
        "error": None if reply.error is None else _storable(reply.error),
        "has_usage": usage is not None,
        "prompt_tokens": None if usage is None else usage.prompt_tokens,
        "completion_tokens": None if usage is None else usage.completion_tokens,
        "total_tokens": None if usage is None else usage.total_tokens,
        "cost_usd": None if usage is None else usage.cost_usd,
        "prompt_tokens_estimate": reply.prompt_tokens_estimate,
        "ttft_s": None if metrics is None else metrics.ttft_s,
        "tokens_per_s": None if metrics is None else metrics.tokens_per_s,
        "created_at": reply.created_at,
        "sent_at": reply.sent_at,
        "first_token_at": reply.first_token_at,
        "finished_at": reply.finished_at,
    }


def _storable(text: str) -> str:
    """`text`, with lone surrogates (a server splitting an escaped emoji) made U+FFFD.

    SQLite stores UTF-8, which cannot hold them: the save would fail and the
    reply be lost for one broken character.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _reply_from_row(row: Sequence[object]) -> Reply:
    """A Reply from the columns listed in _REPLY_COLUMNS; _DamagedData if they make none."""
    try:
        return _decode_reply(row)
    except ValueError as exc:  # an unknown state, a wrong type
        raise _DamagedData(f"a reply cannot be read ({exc})") from exc


def _decode_reply(row: Sequence[object]) -> Reply:
    (seat_id, state, text, reasoning, finish_reason, error, has_usage, prompt_tokens,
     completion_tokens, total_tokens, cost_usd, estimate, created_at, sent_at,
     first_token_at, finished_at) = row
    usage = Usage(_opt_int(prompt_tokens), _opt_int(completion_tokens), _opt_int(total_tokens),
                  _opt_float(cost_usd)) if has_usage else None
    reply = Reply(
        SeatId(str(seat_id)), state=ReplyState(state), reasoning=str(reasoning),
        finish_reason=_opt_str(finish_reason), usage=usage, error=_opt_str(error),
        created_at=_float(created_at), sent_at=_opt_float(sent_at),
        prompt_tokens_estimate=_opt_int(estimate), first_token_at=_opt_float(first_token_at),
        finished_at=_opt_float(finished_at),
    )
    reply.text = str(text)
    return reply


def _opt_int(value: object) -> int | None:
    if value is None or isinstance(value, int):
        return value
    raise ValueError(f"{value!r} is not a whole number")


def _float(value: object) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    raise ValueError(f"{value!r} is not a number")


def _opt_float(value: object) -> float | None:
    return None if value is None else _float(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _room_row(db: sqlite3.Connection, room_id: str) -> tuple[str, float, str, str, int]:
    """(title, created_at, params, system_prompt, next_seat); StoreError for an unknown id."""
    row = db.execute(
        "SELECT title, created_at, params, system_prompt, next_seat FROM rooms WHERE id = ?",
        (room_id,),
    ).fetchone()
    if row is None:
        raise StoreError(f"No room with id {room_id}.")
    return str(row[0]), float(row[1]), str(row[2]), str(row[3]), int(row[4])


def _turn_count(db: sqlite3.Connection, room_id: str) -> int:
    # Turns are numbered 0, 1, 2…: the highest index is one lookup, count(*) a scan.
    row = db.execute(
        "SELECT COALESCE(max(turn_index) + 1, 0) FROM turns WHERE room_id = ?", (room_id,)
    ).fetchone()
    return int(row[0])


def _turn_exists(db: sqlite3.Connection, room_id: str, index: int) -> bool:
    row = db.execute(
        "SELECT 1 FROM turns WHERE room_id = ? AND turn_index = ?", (room_id, index)
    ).fetchone()
    return row is not None


def _read_turns(db: sqlite3.Connection, room_id: str, start: int, stop: int) -> list[Turn]:
    """Turns with index in [start, stop), with their replies in their saved order."""
    turns: dict[int, Turn] = {}
    for index, prompt, sent_at in db.execute(
        "SELECT turn_index, prompt, sent_at FROM turns "
        "WHERE room_id = ? AND turn_index >= ? AND turn_index < ? ORDER BY turn_index",
        (room_id, start, stop),
    ):
        turns[index] = Turn(prompt, {}, sent_at)
    for index, *columns in db.execute(
        f"SELECT turn_index, {_REPLY_COLUMNS} FROM replies "
        "WHERE room_id = ? AND turn_index >= ? AND turn_index < ? ORDER BY turn_index, position",
        (room_id, start, stop),
    ):
        reply = _reply_from_row(columns)
        turns[index].replies[reply.seat_id] = reply
    for index, *columns in db.execute(
        f"SELECT turn_index, {_REPLY_COLUMNS} FROM reply_attempts "
        "WHERE room_id = ? AND turn_index >= ? AND turn_index < ? "
        "ORDER BY turn_index, seat_id, attempt",
        (room_id, start, stop),
    ):
        attempt = _reply_from_row(columns)
        # Written in one transaction with its reply, so the reply is there;
        # a row someone else left without one is not worth refusing the room for.
        owner = turns[index].replies.get(attempt.seat_id)
        if owner is not None:
            owner.attempts.append(attempt)
    return list(turns.values())


def _read_attempts(db: sqlite3.Connection, room_id: str, index: int, seat_id: str) -> list[Reply]:
    """The earlier attempts of one reply, oldest first."""
    rows = db.execute(
        f"SELECT {_REPLY_COLUMNS} FROM reply_attempts "
        "WHERE room_id = ? AND turn_index = ? AND seat_id = ? ORDER BY attempt",
        (room_id, index, seat_id),
    )
    return [_reply_from_row(row) for row in rows]


def _read_seats(db: sqlite3.Connection, room_id: str) -> tuple[list[Seat], int]:
    """The room's seats in order, and the highest seat number ever used (removed seats too)."""
    seats: list[Seat] = []
    highest = 0
    for seat_id, model, endpoint, params, label, removed in db.execute(
        "SELECT seat_id, model, endpoint, params, label, removed FROM seats "
        "WHERE room_id = ? ORDER BY position",
        (room_id,),
    ):
        number = seat_id[1:]
        if seat_id.startswith("s") and number.isdigit():
            highest = max(highest, int(number))
        if not removed:
            seats.append(Seat(SeatId(seat_id), model, endpoint, _load_params(params), label))
    return seats, highest


def _window_start(window: _Window, turns: list[Turn]) -> int:
    """Where `turns[0]` sits in the conversation, found from the window's anchor turn."""
    if window.anchor is None:
        return window.anchor_index
    for position, turn in enumerate(turns):
        if turn is window.anchor:
            return window.anchor_index - position
    raise StoreError(
        "The turns loaded from the history were removed from the room; load the room again."
    )


def _dump(params: dict[str, ParamValue]) -> str:
    return json.dumps(params, ensure_ascii=False, sort_keys=True)


def _load_params(text: str) -> dict[str, ParamValue]:
    """Parameters from JSON; _DamagedData for anything else."""
    try:
        raw: object = json.loads(text)
    except ValueError as exc:
        raise _DamagedData(f"parameters are not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise _DamagedData("parameters are not a JSON object")
    params: dict[str, ParamValue] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            params[str(key)] = [str(item) for item in value]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            params[str(key)] = value
        else:
            raise _DamagedData(f"parameter {key} has the value {value!r}")
    return params
