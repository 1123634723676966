"""The conversation model: Room, Seat, Turn, Reply and the reply state machine.

A Room has seats (columns) and turns (rows). Each turn holds one Reply per
seat. Each seat sees its own thread: every earlier prompt plus its own earlier
replies; failed replies are left out of what is sent. A manual retry replaces
a reply and keeps the old one among the new one's earlier attempts, which are
shown and saved but never sent.
"""

from __future__ import annotations

import dataclasses
import enum
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, NewType

from chatroom.core.errors import ReplyStateError
from chatroom.core.params import ParamValue, merge_params, validate_params

__all__ = [
    "Message",
    "Reply",
    "ReplyState",
    "Room",
    "Seat",
    "SeatId",
    "Turn",
    "Usage",
]

SeatId = NewType("SeatId", str)
Message = dict[str, str]


class ReplyState(enum.Enum):
    """Where a reply is in its life. Terminal states have no exits but to a retry."""

    WAITING = "waiting"
    QUEUED = "queued"
    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        return self not in _NEXT

    @property
    def is_active(self) -> bool:
        return not self.is_terminal


_ENDINGS: Final = frozenset(
    {ReplyState.STOPPED, ReplyState.FAILED, ReplyState.INTERRUPTED}
)
_NEXT: Final[Mapping[ReplyState, frozenset[ReplyState]]] = {
    ReplyState.WAITING: frozenset({ReplyState.QUEUED, ReplyState.STREAMING}) | _ENDINGS,
    ReplyState.QUEUED: frozenset({ReplyState.WAITING, ReplyState.STREAMING}) | _ENDINGS,
    ReplyState.STREAMING: frozenset({ReplyState.DONE}) | _ENDINGS,
}


@dataclass(frozen=True)
class Usage:
    """Token counts (and the cost, when the server reports it) of one reply."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None


@dataclass
class Seat:
    """One column of the room: a model on an endpoint, with parameter overrides."""

    id: SeatId
    model: str
    endpoint: str = "openrouter"
    params: dict[str, ParamValue] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = short_label(self.model)


def short_label(model: str) -> str:
    """`anthropic/claude-3.5-haiku` -> `claude-3.5-haiku`."""
    return model.rsplit("/", 1)[-1] or model


# Short names for labels such as `claude-3.5-haiku · t=0.2`.
_LABEL_KEYS: Final = {
    "temperature": "t",
    "top_p": "p",
    "top_k": "k",
    "frequency_penalty": "fp",
    "presence_penalty": "pp",
    "repetition_penalty": "rp",
    "max_tokens": "max",
}


def describe_overrides(params: Mapping[str, ParamValue]) -> str:
    """`{"temperature": 0.2, "top_k": 40}` -> `t=0.2 k=40` (stop sequences as `stop`)."""
    parts = []
    for key, value in params.items():
        if isinstance(value, list):
            parts.append(key)
        else:
            parts.append(f"{_LABEL_KEYS.get(key, key)}={value:g}")
    return " ".join(parts)


@dataclass
class Reply:
    """One seat's answer to one turn; `move_to` enforces the state machine."""

    seat_id: SeatId
    state: ReplyState = ReplyState.WAITING
    # Text arrives in thousands of small pieces: appending to a list and joining
    # on demand keeps each delta O(1) where `str +=` on an attribute copies.
    _text_parts: list[str] = field(default_factory=list, repr=False)
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None
    #: Where the user can fix the error: "settings" (a rejected key), else None.
    error_fix: str | None = None
    created_at: float = field(default_factory=time.time)
    #: When the request went out (after any queue); time to first token counts from here.
    sent_at: float | None = None
    #: Prompt tokens estimated when the request went out, until usage reports them.
    prompt_tokens_estimate: int | None = None
    first_token_at: float | None = None
    finished_at: float | None = None
    #: Earlier attempts at this reply, oldest first, all ended: a manual retry
    #: keeps the reply it replaces here (`Room.retry_reply`). The client's own
    #: retries before the first token make none. Not in the repr: it can be long.
    attempts: list[Reply] = field(default_factory=list, repr=False)

    def move_to(self, state: ReplyState) -> None:
        """Change state or raise ReplyStateError for a move the machine forbids."""
        if state not in _NEXT.get(self.state, frozenset()):
            raise ReplyStateError(
                f"A reply cannot go from {self.state.value} to {state.value}."
            )
        self.state = state
        if state.is_terminal:
            self.finished_at = time.time()

    @property
    def text(self) -> str:
        if len(self._text_parts) > 1:
            self._text_parts[:] = ["".join(self._text_parts)]
        return self._text_parts[0] if self._text_parts else ""

    @text.setter
    def text(self, value: str) -> None:
        self._text_parts[:] = [value] if value else []

    def append_text(self, text: str) -> None:
        self._mark_first_token()
        self._text_parts.append(text)

    def append_reasoning(self, text: str) -> None:
        self._mark_first_token()
        self.reasoning += text

    def _mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.time()
        if self.state in (ReplyState.WAITING, ReplyState.QUEUED):
            self.move_to(ReplyState.STREAMING)

    def snapshot(self) -> Reply:
        """A copy that later appends do not change: safe to hand to another thread.

        Earlier attempts never change, so the copy shares them (in a list of its own).
        """
        copy = dataclasses.replace(self, _text_parts=[], attempts=list(self.attempts))
        copy.text = self.text
        return copy

    @property
    def attempt(self) -> int:
        """This reply's number among the attempts at it: 1 unless it was retried."""
        return len(self.attempts) + 1

    @property
    def is_partial(self) -> bool:
        """Ended early but kept what arrived."""
        return self.state in _ENDINGS


@dataclass
class Turn:
    """One prompt sent to every seat, with one reply per seat."""

    prompt: str
    replies: dict[SeatId, Reply] = field(default_factory=dict)
    sent_at: float = field(default_factory=time.time)


@dataclass
class Room:
    """A conversation: seats, room-wide parameters and system prompt, turns."""

    seats: list[Seat] = field(default_factory=list)
    params: dict[str, ParamValue] = field(default_factory=dict)
    system_prompt: str = ""
    turns: list[Turn] = field(default_factory=list)
    title: str = ""
    #: Stable id in the history store (a uuid4 hex).
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    _next_seat: int = 1

    def add_seat(
        self,
        model: str,
        *,
        endpoint: str = "openrouter",
        params: Mapping[str, ParamValue] | None = None,
    ) -> Seat:
        """Seat `model`; a model seated twice gets a distinct label.

        Raises ParameterError for an invalid override.
        """
        model = model.strip()
        if not model:
            raise ValueError("A model id is needed.")
        seat = Seat(SeatId(f"s{self._next_seat}"), model, endpoint, validate_params(params or {}))
        self._next_seat += 1
        self._relabel(seat)
        self.seats.append(seat)
        return seat

    def set_overrides(self, seat_id: SeatId, params: Mapping[str, ParamValue]) -> None:
        """Give a seat its own parameter values (validated); its label follows."""
        seat = self.seat(seat_id)
        seat.params = validate_params(params)
        self._relabel(seat)

    def _relabel(self, seat: Seat) -> None:
        """Short model name, its overrides, and `#2`, `#3` while another seat has it.

        Only this seat's label changes, so other panes keep their names.
        """
        label = short_label(seat.model)
        if seat.params:
            label = f"{label} · {describe_overrides(seat.params)}"
        taken = {s.label for s in self.seats if s is not seat}
        base, n = label, 2
        while label in taken:
            label, n = f"{base} #{n}", n + 1
        seat.label = label

    def remove_seat(self, seat_id: SeatId) -> None:
        self.seats = [s for s in self.seats if s.id != seat_id]

    def seat(self, seat_id: SeatId) -> Seat:
        for seat in self.seats:
            if seat.id == seat_id:
                return seat
        raise KeyError(seat_id)

    def start_turn(self, prompt: str) -> Turn:
        """Append a turn with a waiting reply for every seat."""
        if not prompt.strip():
            raise ValueError("An empty prompt is not sent.")
        turn = Turn(prompt, {seat.id: Reply(seat.id) for seat in self.seats})
        self.turns.append(turn)
        if not self.title:
            self.title = prompt.strip().splitlines()[0][:80]
        return turn

    def effective_params(
        self, seat: Seat, supports: Callable[[str], bool] | None = None
    ) -> dict[str, ParamValue]:
        """Defaults <- room values <- seat overrides; only values that differ from defaults.

        `supports` (the model's catalogue entry) drops parameters the model
        does not list, which some providers would reject or silently ignore.
        """
        merged = merge_params(self.params, seat.params)
        if supports is None:
            return merged
        return {key: value for key, value in merged.items() if supports(key)}

    def messages_for(self, seat_id: SeatId, turn: Turn) -> list[Message]:
        """What `seat_id` is sent for `turn`: its own thread up to and including it."""
        messages: list[Message] = []
        if self.system_prompt.strip():
            messages.append({"role": "system", "content": self.system_prompt})
        messages.extend(self.history_for(seat_id, before=turn))
        messages.append({"role": "user", "content": turn.prompt})
        return messages

    def history_for(self, seat_id: SeatId, *, before: Turn | None = None) -> list[Message]:
        """The seat's own thread of earlier turns (all of them, or those before `before`).

        Failed replies are left out (with their prompt, so the thread keeps
        alternating user/assistant); stopped and interrupted ones are sent as
        they stand.
        """
        messages: list[Message] = []
        for earlier in self.turns:
            if earlier is before:
                break
            reply = earlier.replies.get(seat_id)
            if reply is None or reply.state is ReplyState.FAILED or not reply.text:
                continue
            messages.append({"role": "user", "content": earlier.prompt})
            messages.append({"role": "assistant", "content": reply.text})
        return messages

    def retry_reply(self, turn: Turn, seat_id: SeatId) -> Reply:
        """Replace an ended reply with a fresh waiting one that keeps it as an earlier attempt.

        The fresh reply's `attempts` are the old one's, then the old one
        itself, which keeps none of its own. The old one is returned.
        """
        old = turn.replies[seat_id]
        if not old.state.is_terminal:
            raise ValueError("Only an ended reply can be retried.")
        earlier = [*old.attempts, old]
        old.attempts = []
        # Joined once now: the store's thread reads it later, and it never grows again.
        old.text = old.text
        turn.replies[seat_id] = Reply(seat_id, attempts=earlier)
        return old

    def retried_turns(self, seat_id: SeatId) -> list[int]:
        """Indexes into `turns` of the turns where the seat's reply has earlier attempts."""
        return [
            index
            for index, turn in enumerate(self.turns)
            if (reply := turn.replies.get(seat_id)) is not None and reply.attempts
        ]
