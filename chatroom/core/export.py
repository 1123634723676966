"""Transcripts: a room as Markdown, versioned JSON or one self-contained HTML page, and back.

The JSON transcript is a contract (ARCHITECTURE.md, "Transcript JSON"); every
field is documented in docs/transcript-format.md and described by
docs/transcript.schema.json. Its rules in short:

- `version` changes only when an old reader would misread a new file. A
  reader rejects a higher version with a message asking for an update.
- New fields may appear within a version; readers ignore fields they do not
  know, and writers only add fields that are safe to ignore.
- Derived values (`metrics`, `effective_params`) are written for other tools
  and ignored on import: Chatroom recomputes them from the stored facts.
- A reply that was retried by hand carries the replies it replaced in
  `earlier_attempts` (oldest first, each with the fields of a reply), added
  within version 1: written only when there are some, so a file without
  retries is the same as before, and an older reader ignores them.

Import is all or nothing: `from_json` validates and builds a complete Room
before it returns, so a bad file raises TranscriptError and imports nothing.

The HTML page loads nothing: styles are inline, there is no script, and model
text is escaped plain text, so a reply cannot fetch an image or run code when
the page is opened, whatever the model wrote.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal, get_args

from chatroom.core.atomicfile import write_atomic
from chatroom.core.errors import ChatroomError, ParameterError
from chatroom.core.metrics import ReplyMetrics, format_metrics, format_usd, reply_metrics
from chatroom.core.params import SPECS_BY_KEY, STOP_KEY, ParamValue, validate_params
from chatroom.core.room import Reply, ReplyState, Room, Seat, SeatId, Turn, Usage

__all__ = [
    "FORMAT",
    "FORMATS",
    "VERSION",
    "Format",
    "TranscriptError",
    "export_room",
    "from_json",
    "import_file",
    "render",
    "to_html",
    "to_json",
    "to_markdown",
]

FORMAT: Final = "chatroom.transcript"
VERSION: Final = 1

Format = Literal["md", "json", "html"]
#: The export formats, for command-line choices and file dialogs.
FORMATS: Final[tuple[Format, ...]] = get_args(Format)

#: What a room without a title is called in Markdown and HTML (JSON keeps "").
UNTITLED: Final = "Untitled room"


class TranscriptError(ChatroomError):
    """A transcript could not be written, read or understood; str() is the user message.

    Raised by export_room (the file could not be written), import_file (the
    file could not be read) and from_json (not JSON, not a transcript, a
    newer version, or a field of the wrong shape, named by its path such as
    `turns[1].replies[0].state`). Defined here for now; the lead may move it
    into errors.py and its hierarchy drawing.
    """


# ---------------------------------------------------------------- shared facts

_STATE_NOTES: Final[Mapping[ReplyState, str]] = {
    ReplyState.STOPPED: "Stopped by the user",
    ReplyState.FAILED: "Failed",
    ReplyState.INTERRUPTED: "Interrupted before the end",
    ReplyState.WAITING: "Still waiting when exported",
    ReplyState.QUEUED: "Still queued when exported",
    ReplyState.STREAMING: "Still streaming when exported",
}


def _state_note(reply: Reply) -> str | None:
    """Why a reply is not a whole answer, e.g. "Stopped by the user — partial reply."

    None for a done reply. The error, if any, is shown after it by the caller.
    """
    note = _STATE_NOTES.get(reply.state)
    if note is None:
        return None
    return f"{note} — partial reply." if reply.text else f"{note}."


def _error_note(reply: Reply) -> str:
    return f" Error: {reply.error}" if reply.error else ""


def _metrics(reply: Reply) -> ReplyMetrics:
    # TTFT counts from when the request went out, not from a wait in a queue.
    return reply_metrics(reply, started_at=reply.sent_at)


def _describe_params(params: Mapping[str, ParamValue]) -> str:
    """`temperature=0.2, stop=["END"]`, or a note that nothing differs from the defaults."""
    if not params:
        return "provider defaults"
    return ", ".join(f"{key}={_param_text(value)}" for key, value in params.items())


def _param_text(value: ParamValue) -> str:
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return f"{value:g}"


def _human_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ordered_replies(room: Room, turn: Turn) -> list[Reply]:
    """The turn's replies in seat order; replies of seats since removed are left out.

    A removed seat's model and parameters are gone, so its replies could not
    be attributed, and an importer could not check the seat they name.
    """
    return [turn.replies[seat.id] for seat in room.seats if seat.id in turn.replies]


# ---------------------------------------------------------------- JSON out


def to_json(room: Room) -> str:
    """The versioned JSON transcript: indented, UTF-8 text kept as is, dates in UTC."""
    document: dict[str, object] = {
        "format": FORMAT,
        "version": VERSION,
        "title": room.title,
        "created": _iso(room.created_at),
        "system_prompt": room.system_prompt,
        "params": dict(room.params),
        "seats": [_seat_json(room, seat) for seat in room.seats],
        "turns": [_turn_json(room, turn) for turn in room.turns],
    }
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _seat_json(room: Room, seat: Seat) -> dict[str, object]:
    return {
        "id": seat.id,
        "endpoint": seat.endpoint,
        "model": seat.model,
        "label": seat.label,
        "params": dict(seat.params),
        "effective_params": room.effective_params(seat),
    }


def _turn_json(room: Room, turn: Turn) -> dict[str, object]:
    return {
        "prompt": turn.prompt,
        "sent_at": _iso(turn.sent_at),
        "replies": [_reply_json(reply) for reply in _ordered_replies(room, turn)],
    }


def _reply_json(reply: Reply) -> dict[str, object]:
    fields = _reply_fields(reply)
    if reply.attempts:
        fields["earlier_attempts"] = [_reply_fields(attempt) for attempt in reply.attempts]
    return fields


def _reply_fields(reply: Reply) -> dict[str, object]:
    """A reply's own fields: everything but its earlier attempts."""
    metrics = _metrics(reply)
    return {
        "seat": reply.seat_id,
        "text": reply.text,
        "reasoning": reply.reasoning or None,
        "state": reply.state.value,
        "finish_reason": reply.finish_reason,
        "error": reply.error,
        "usage": _usage_json(reply.usage),
        "metrics": _metrics_json(reply, metrics),
        "cost_usd": _finite(None if metrics.cost_usd is None else float(metrics.cost_usd)),
        "created_at": _iso(reply.created_at),
        "sent_at": _optional_iso(reply.sent_at),
        "first_token_at": _optional_iso(reply.first_token_at),
        "finished_at": _optional_iso(reply.finished_at),
    }


def _usage_json(usage: Usage | None) -> dict[str, object] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _metrics_json(reply: Reply, metrics: ReplyMetrics) -> dict[str, object] | None:
    if metrics.ttft_s is None and metrics.tokens_per_s is None:
        return None
    # Rounded to what a stopwatch means: milliseconds, hundredths of a token.
    ttft_s = None if metrics.ttft_s is None else round(metrics.ttft_s, 3)
    rate = None if metrics.tokens_per_s is None else round(metrics.tokens_per_s, 2)
    usage = reply.usage
    return {
        "ttft_s": _finite(ttft_s),
        "tokens_per_s": _finite(rate),
        # From the exported usage alone, so a re-export of an import says the same.
        "tokens_estimated": usage is None or usage.completion_tokens is None,
    }


def _finite(number: float | None) -> float | None:
    """JSON has no NaN or infinity; an impossible number is as good as unknown."""
    return number if number is not None and math.isfinite(number) else None


def _iso(timestamp: float) -> str:
    """ISO-8601 in UTC with Z, as short as the value allows and exact to the microsecond."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if moment.microsecond == 0:
        spec = "seconds"
    elif moment.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _optional_iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else _iso(timestamp)


# ---------------------------------------------------------------- Markdown


def to_markdown(room: Room) -> str:
    """A readable transcript: seats, then each turn's prompt, metrics table and replies.

    Each reply sits under a heading with its seat's label and model, its
    effective parameters and its metrics line; unfinished replies are marked.
    """
    blocks = [f"# {_md_line(room.title or UNTITLED)}", _md_overview(room)]
    if room.system_prompt.strip():
        blocks += ["## System prompt", _md_quote(room.system_prompt)]
    for number, turn in enumerate(room.turns, 1):
        blocks += _md_turn(room, turn, number)
    return "\n\n".join(blocks) + "\n"


def _md_overview(room: Room) -> str:
    lines = [
        f"Exported from Chatroom. Created {_human_time(room.created_at)}; "
        f"{_count(len(room.seats), 'seat')}, {_count(len(room.turns), 'turn')}.",
        "",
        "| seat | model | endpoint | parameters |",
        "| --- | --- | --- | --- |",
    ]
    for seat in room.seats:
        cells = [seat.label, f"`{seat.model}`", seat.endpoint,
                 _describe_params(room.effective_params(seat))]
        lines.append(_md_row(cells))
    return "\n".join(lines)


def _md_turn(room: Room, turn: Turn, number: int) -> list[str]:
    blocks = [
        f"## Turn {number}",
        f"*Sent {_human_time(turn.sent_at)}*",
        _md_quote(turn.prompt),
        _md_metrics_table(room, turn),
    ]
    for reply in _ordered_replies(room, turn):
        blocks += _md_reply(room, room.seat(reply.seat_id), reply)
    return blocks


def _md_metrics_table(room: Room, turn: Turn) -> str:
    lines = [
        "| seat | state | TTFT | tok/s | tokens in/out | cost |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for reply in _ordered_replies(room, turn):
        label = room.seat(reply.seat_id).label
        lines.append(_md_row([label, _state_cell(reply), *_metric_cells(_metrics(reply))]))
    return "\n".join(lines)


def _state_cell(reply: Reply) -> str:
    """`done`, or `done (attempt 3)` for a reply retried by hand."""
    return f"{reply.state.value} (attempt {reply.attempt})" if reply.attempts else reply.state.value


def _metric_cells(metrics: ReplyMetrics) -> list[str]:
    """TTFT, tok/s, tokens in/out and cost for a table; "—" where unknown, "~" estimated."""
    approx = "~" if metrics.tokens_estimated else ""
    dash = "—"
    ttft = dash if metrics.ttft_s is None else f"{metrics.ttft_s:.2f} s"
    rate = dash if metrics.tokens_per_s is None else f"{approx}{metrics.tokens_per_s:.1f}"
    tokens_in = dash if metrics.prompt_tokens is None else f"{approx}{metrics.prompt_tokens:,}"
    tokens_out = dash if metrics.completion_tokens is None else f"{approx}{metrics.completion_tokens:,}"
    cost = dash if metrics.cost_usd is None else _usd(metrics.cost_usd, metrics.cost_estimated)
    return [ttft, rate, f"{tokens_in} / {tokens_out}", cost]


def _usd(amount: Decimal, estimated: bool) -> str:
    return ("~" if estimated else "") + format_usd(amount)


def _md_reply(room: Room, seat: Seat, reply: Reply) -> list[str]:
    details = (
        f"Parameters: {_md_line(_describe_params(room.effective_params(seat)))}  \n"
        f"Metrics: {_metrics_line(reply)}"
    )
    if reply.attempts:
        details += f"  \nAttempt {reply.attempt}; the earlier ones follow this reply."
    blocks = [f"### {_md_line(seat.label)} (`{seat.model}`)", details, *_md_body(reply)]
    if reply.attempts:
        blocks += _md_attempts(reply.attempts)
    return blocks


def _md_body(reply: Reply) -> list[str]:
    """The state note, reasoning and text of one reply or attempt."""
    blocks = []
    note = _state_note(reply)
    if note is not None:
        blocks.append(_md_quote(f"**{note}**{_error_note(reply)}"))
    if reply.reasoning:
        blocks.append(_md_quote(f"*Reasoning:*\n\n{reply.reasoning}"))
    blocks.append(_close_fence(reply.text) if reply.text else "*(no text)*")
    return blocks


def _md_attempts(attempts: list[Reply]) -> list[str]:
    """Earlier attempts, collapsed where the Markdown viewer knows <details> (GitHub, GitLab)."""
    blocks = [f"<details>\n<summary>{_count(len(attempts), 'earlier attempt')}</summary>"]
    for number, attempt in enumerate(attempts, 1):
        blocks.append(f"#### Attempt {number}: {attempt.state.value}")
        blocks.append(f"Metrics: {_metrics_line(attempt)}")
        blocks += _md_body(attempt)
    blocks.append("</details>")
    return blocks


def _metrics_line(reply: Reply) -> str:
    line = format_metrics(_metrics(reply)) or "none measured"
    if reply.finish_reason:
        line += f" · finish: {reply.finish_reason}"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _md_line(text: str) -> str:
    """One line of text for a heading or a table cell."""
    return " ".join(text.split())


def _md_row(cells: list[str]) -> str:
    escaped = (_md_line(cell).replace("|", "\\|") for cell in cells)
    return "| " + " | ".join(escaped) + " |"


def _md_quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines() or [""])


_FENCE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _close_fence(text: str) -> str:
    """Close a code fence a stopped reply left open, so it does not swallow the rest."""
    open_fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match is None:
            continue
        fence = match.group(1)
        if open_fence is None:
            open_fence = fence
        elif fence[0] == open_fence[0] and len(fence) >= len(open_fence) and line.strip() == fence:
            open_fence = None
    return text if open_fence is None else f"{text}\n{open_fence}"


# ---------------------------------------------------------------- HTML

_CSS: Final = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d1d1f; background: #fff; margin: 24px; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.1em; margin: 16px 0 4px; }
.meta { color: #555; margin: 0 0 16px; }
.system { border-left: 3px solid #c8c8d0; padding: 4px 10px; margin-bottom: 16px; }
table.transcript { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { border: 1px solid #d0d0d7; padding: 8px 10px; vertical-align: top; text-align: left; }
thead th { background: #f3f3f6; }
.seat-label { font-weight: 600; }
.seat-model, .params { display: block; font-weight: normal; font-size: .85em; color: #555;
                       overflow-wrap: anywhere; }
tr.prompt td { background: #f7f7fa; }
.turn-no { font-size: .8em; color: #555; text-transform: uppercase; letter-spacing: .04em; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.reasoning { border-left: 3px solid #c8c8d0; padding-left: 8px; color: #555;
             font-size: .9em; margin-bottom: 8px; }
.reasoning-label, .empty { font-style: italic; color: #555; }
.status { font-weight: 600; font-size: .85em; padding: 2px 6px; border-radius: 4px;
          margin: 0 0 8px; }
.state-stopped .status, .state-interrupted .status,
.state-waiting .status, .state-queued .status, .state-streaming .status {
  background: #fff3cd; color: #5c4300; }
.state-failed .status { background: #fde2e1; color: #8a1c14; }
.metrics { font-size: .8em; color: #555; margin: 8px 0 0; padding-top: 4px;
           border-top: 1px solid #e6e6ea; font-variant-numeric: tabular-nums; }
.attempts { margin-top: 8px; font-size: .9em; }
.attempts summary { color: #555; font-size: .85em; cursor: pointer; }
.attempt { border-top: 1px dashed #d0d0d7; margin-top: 8px; padding-top: 6px; }
.attempt-no { font-size: .8em; color: #555; text-transform: uppercase; letter-spacing: .04em;
              margin: 0 0 4px; }
@media print {
  body { margin: 0; font-size: 10pt; color: #000; background: #fff; }
  thead { display: table-header-group; }
  tr, td { break-inside: avoid; page-break-inside: avoid; }
  tr.prompt { break-after: avoid; page-break-after: avoid; }
  th, td, thead th, tr.prompt td, .status { background: #fff !important; color: #000 !important; }
  .meta, .seat-model, .params, .turn-no, .reasoning, .reasoning-label, .empty, .metrics,
  .attempts summary, .attempt-no {
    color: #000 !important; }
  .status { border: 1px solid #000; }
}
"""

# The policy forbids every load and every script, should anything slip past escaping.
_HEAD: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Chatroom">
"""


def to_html(room: Room) -> str:
    """One self-contained page: turns as rows, seats side by side as columns.

    Inline styles only, no script and no external resource; model text is
    escaped and shown as plain text, so links and images in it stay text.
    """
    title = _h(room.title or UNTITLED)
    parts = [
        _HEAD,
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        f"<h1>{title}</h1>\n",
        f"<p class=\"meta\">Exported from Chatroom. Created {_h(_human_time(room.created_at))}; "
        f"{_count(len(room.seats), 'seat')}, {_count(len(room.turns), 'turn')}.</p>\n",
        _html_system_prompt(room),
        _html_table(room),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _html_text(text: str) -> str:
    return f'<div class="text">{_h(text)}</div>'


def _html_system_prompt(room: Room) -> str:
    if not room.system_prompt.strip():
        return ""
    return f'<h2>System prompt</h2>\n<div class="system">{_html_text(room.system_prompt)}</div>\n'


def _html_table(room: Room) -> str:
    headers = "".join(_html_seat_header(room, seat) for seat in room.seats)
    rows = "".join(_html_turn(room, turn, n) for n, turn in enumerate(room.turns, 1))
    return (
        '<table class="transcript">\n'
        f"<thead><tr>{headers}</tr></thead>\n"
        f"<tbody>\n{rows}</tbody>\n</table>\n"
    )


def _html_seat_header(room: Room, seat: Seat) -> str:
    params = _describe_params(room.effective_params(seat))
    return (
        f'<th scope="col"><span class="seat-label">{_h(seat.label)}</span>'
        f'<span class="seat-model">{_h(seat.model)} on {_h(seat.endpoint)}</span>'
        f'<span class="params">Parameters: {_h(params)}</span></th>'
    )


def _html_turn(room: Room, turn: Turn, number: int) -> str:
    columns = max(1, len(room.seats))
    prompt = (
        f'<tr class="prompt"><td colspan="{columns}">'
        f'<div class="turn-no">Turn {number} · {_h(_human_time(turn.sent_at))}</div>'
        f"{_html_text(turn.prompt)}</td></tr>\n"
    )
    if not room.seats:
        return prompt
    cells = "".join(_html_reply_cell(turn.replies.get(seat.id)) for seat in room.seats)
    return f'{prompt}<tr class="replies">{cells}</tr>\n'


def _html_reply_cell(reply: Reply | None) -> str:
    if reply is None:
        return '<td class="reply"><p class="empty">No reply in this turn.</p></td>'
    parts = [f'<td class="reply state-{reply.state.value}">', _html_body(reply)]
    if reply.attempts:
        # Collapsed: the page shows the answer; the earlier tries are one click away.
        parts.append(
            f'<details class="attempts"><summary>Attempt {reply.attempt}; '
            f"{_count(len(reply.attempts), 'earlier attempt')}</summary>"
        )
        for number, attempt in enumerate(reply.attempts, 1):
            parts.append(
                f'<div class="attempt state-{attempt.state.value}">'
                f'<p class="attempt-no">Attempt {number}</p>{_html_body(attempt)}</div>'
            )
        parts.append("</details>")
    parts.append("</td>")
    return "".join(parts)


def _html_body(reply: Reply) -> str:
    """State note, reasoning, text and metrics of one reply or attempt."""
    parts = []
    note = _state_note(reply)
    if note is not None:
        parts.append(f'<p class="status">{_h(note + _error_note(reply))}</p>')
    if reply.reasoning:
        parts.append(
            '<div class="reasoning"><div class="reasoning-label">Reasoning</div>'
            f"{_html_text(reply.reasoning)}</div>"
        )
    parts.append(_html_text(reply.text) if reply.text else '<p class="empty">(no text)</p>')
    parts.append(f'<p class="metrics">{_h(_metrics_line(reply))}</p>')
    return "".join(parts)


# ---------------------------------------------------------------- export


_RENDERERS: Final[Mapping[str, Callable[[Room], str]]] = {
    "md": to_markdown,
    "json": to_json,
    "html": to_html,
}


def render(room: Room, fmt: Format) -> str:
    """The room in `fmt`; TranscriptError for a format name Chatroom does not know."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise TranscriptError(f"Unknown export format {fmt!r}; choose md, json or html.")
    return renderer(room)


def export_room(room: Room, path: Path, fmt: Format) -> None:
    """Write the room to `path` in `fmt`, atomically: a failed write leaves any old file.

    The file is readable by others (0o644) since an export is meant to be shared.
    """
    data = render(room, fmt).encode("utf-8")
    try:
        write_atomic(path, data, mode=0o644)
    except OSError as exc:
        raise TranscriptError(f"Could not write {path}: {exc.strerror or exc}.") from exc


# ---------------------------------------------------------------- JSON in


def import_file(path: Path) -> Room:
    """Read a JSON transcript from `path` into a new Room (see from_json)."""
    try:
        # utf-8-sig: editors on Windows may have added a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(
            f"{path} is not UTF-8 text, so it is not a Chatroom transcript."
        ) from exc
    except OSError as exc:
        raise TranscriptError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    return from_json(text)


def from_json(text: str) -> Room:
    """Build a new Room from a JSON transcript, or raise TranscriptError saying what is wrong.

    Nothing is imported from a bad transcript: the Room exists only once
    every field has been read. It gets a new id, so importing a file twice
    gives two rooms; title, seats (ids, labels, parameters), turns and texts
    are kept exactly. Replies a running Chatroom left waiting or streaming
    come back as interrupted, since nothing streams them any more.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(
            "This is not a Chatroom transcript: it is not valid JSON "
            f"({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from exc
    except RecursionError as exc:
        raise TranscriptError("This is not a Chatroom transcript: it is nested too deeply.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TranscriptError(
            f'This is not a Chatroom transcript: it has no "format": "{FORMAT}".'
        )
    document = _Object(data, "")
    _check_version(document)
    return _room_from(document)


def _check_version(document: _Object) -> None:
    version = document.integer("version")
    if version > VERSION:
        raise TranscriptError(
            f"This transcript was written by a newer Chatroom (format version {version}); "
            "update Chatroom to open it."
        )
    if version < 1:
        raise TranscriptError(f"This transcript has an invalid format version ({version}).")


def _invalid(path: str, problem: str) -> TranscriptError:
    return TranscriptError(f"This transcript cannot be read: {path} {problem}.")


def _kind(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


@dataclass(frozen=True)
class _Object:
    """One JSON object being read, with its path in the document for error messages.

    Each getter checks presence and type and raises TranscriptError naming the
    field, e.g. `turns[1].replies[0].state`. Keys it is not asked for are
    ignored: that is how a reader tolerates fields added after it was written.
    """

    fields: Mapping[str, object]
    path: str

    @classmethod
    def at(cls, value: object, path: str) -> _Object:
        if not isinstance(value, dict):
            raise _invalid(path, f"must be an object, not {_kind(value)}")
        return cls(value, path)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, *, required: bool = True) -> object:
        """The raw value; a missing optional key reads as null."""
        if key not in self.fields:
            if required:
                raise _invalid(self.where(key), "is missing")
            return None
        return self.fields[key]

    def string(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise _invalid(self.where(key), f"must be a string, not {_kind(value)}")
        return value

    def optional_string(self, key: str, *, required: bool = True) -> str | None:
        return None if self.get(key, required=required) is None else self.string(key)

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(self.where(key), f"must be a whole number, not {_kind(value)}")
        return value

    def count(self, key: str, *, required: bool = True) -> int | None:
        """A token count: a whole number from 0, or null."""
        if self.get(key, required=required) is None:
            return None
        value = self.integer(key)
        if value < 0:
            raise _invalid(self.where(key), f"must not be negative, not {value}")
        return value

    def number(self, key: str, *, required: bool = True) -> float | None:
        """A finite number from 0, or null."""
        value = self.get(key, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(self.where(key), f"must be a number, not {_kind(value)}")
        if not math.isfinite(value) or value < 0:
            raise _invalid(self.where(key), f"must be a number from 0, not {value}")
        return float(value)

    def optional_bool(self, key: str) -> bool | None:
        value = self.get(key, required=False)
        if value is None or isinstance(value, bool):
            return value
        raise _invalid(self.where(key), f"must be true or false, not {_kind(value)}")

    def time(self, key: str) -> float:
        """An ISO-8601 date-time with a zone (Z or an offset) as a POSIX timestamp."""
        value = self.string(key)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid(
                self.where(key),
                f"must be a date and time such as 2026-01-01T12:00:00Z, not {value!r}",
            ) from None
        if moment.tzinfo is None:
            raise _invalid(self.where(key), f"needs a time zone (Z for UTC): {value!r}")
        return moment.timestamp()

    def optional_time(self, key: str, *, required: bool = True) -> float | None:
        return None if self.get(key, required=required) is None else self.time(key)

    def objects(self, key: str) -> list[_Object]:
        value = self.get(key)
        if not isinstance(value, list):
            raise _invalid(self.where(key), f"must be an array, not {_kind(value)}")
        return [_Object.at(item, f"{self.where(key)}[{i}]") for i, item in enumerate(value)]

    def optional_object(self, key: str, *, required: bool = True) -> _Object | None:
        value = self.get(key, required=required)
        return None if value is None else _Object.at(value, self.where(key))

    def params(self, key: str, *, required: bool = True) -> dict[str, ParamValue]:
        """Sampling parameters, validated; names this Chatroom does not know are ignored.

        A newer Chatroom may know more parameters; dropping them keeps the
        rest of the transcript readable, like any other unknown field.
        """
        values = self.optional_object(key, required=required)
        if values is None:
            return {}
        known = {k: v for k, v in values.fields.items() if k in SPECS_BY_KEY or k == STOP_KEY}
        try:
            return validate_params(known)
        except ParameterError as exc:
            raise _invalid(self.where(key), f"has a bad value: {exc}") from exc


def _room_from(document: _Object) -> Room:
    seats = [_seat_from(item) for item in document.objects("seats")]
    _check_unique_seats(seats)
    seat_ids = {seat.id for seat in seats}
    turns = [_turn_from(item, seat_ids) for item in document.objects("turns")]
    # Room() draws a fresh id, so importing the same file twice cannot clash.
    return Room(
        seats=seats,
        params=document.params("params", required=False),
        system_prompt=document.string("system_prompt"),
        turns=turns,
        title=document.string("title"),
        created_at=document.time("created"),
        _next_seat=_next_seat_number(seats),
    )


def _seat_from(item: _Object) -> Seat:
    seat_id = item.string("id")
    model = item.string("model")
    if not seat_id:
        raise _invalid(item.where("id"), "must not be empty")
    if not model.strip():
        raise _invalid(item.where("model"), "must not be empty")
    return Seat(
        SeatId(seat_id),
        model,
        endpoint=item.string("endpoint"),
        params=item.params("params"),
        label=item.string("label"),
    )


def _check_unique_seats(seats: list[Seat]) -> None:
    seen: set[SeatId] = set()
    for index, seat in enumerate(seats):
        if seat.id in seen:
            raise _invalid(f"seats[{index}].id", f"repeats the seat id {seat.id!r}")
        seen.add(seat.id)


_SEAT_NUMBER: Final = re.compile(r"s([0-9]+)")


def _next_seat_number(seats: list[Seat]) -> int:
    """The number after the highest `sN` id, so a seat added later gets a new id."""
    numbers = [int(m.group(1)) for s in seats if (m := _SEAT_NUMBER.fullmatch(s.id))]
    return max(numbers, default=0) + 1


def _turn_from(item: _Object, seat_ids: set[SeatId]) -> Turn:
    sent_at = item.time("sent_at")
    replies: dict[SeatId, Reply] = {}
    for reply_item in item.objects("replies"):
        reply = _reply_from(reply_item, sent_at)
        if reply.seat_id not in seat_ids:
            raise _invalid(reply_item.where("seat"), f"names no seat of the room: {reply.seat_id!r}")
        if reply.seat_id in replies:
            raise _invalid(reply_item.where("seat"), f"repeats the seat {reply.seat_id!r} in one turn")
        replies[reply.seat_id] = reply
    return Turn(item.string("prompt"), replies, sent_at)


def _reply_from(item: _Object, turn_sent_at: float) -> Reply:
    reply = _attempt_from(item, turn_sent_at)
    attempts = item.get("earlier_attempts", required=False)
    if attempts is None:
        return reply  # written before retries were kept, or never retried
    for attempt_item in item.objects("earlier_attempts"):
        attempt = _attempt_from(attempt_item, turn_sent_at)
        if attempt.seat_id != reply.seat_id:
            raise _invalid(attempt_item.where("seat"), f"must be the reply's seat {reply.seat_id!r}")
        if attempt_item.get("earlier_attempts", required=False) is not None:
            raise _invalid(attempt_item.where("earlier_attempts"), "cannot be inside an attempt")
        reply.attempts.append(attempt)
    return reply


def _attempt_from(item: _Object, turn_sent_at: float) -> Reply:
    """One reply's own fields (a current reply or an earlier attempt)."""
    _check_metrics(item)
    created_at = item.optional_time("created_at", required=False)
    reply = Reply(
        SeatId(item.string("seat")),
        state=_state_from(item),
        reasoning=item.optional_string("reasoning") or "",
        finish_reason=item.optional_string("finish_reason"),
        usage=_usage_from(item),
        error=item.optional_string("error"),
        created_at=turn_sent_at if created_at is None else created_at,
        sent_at=item.optional_time("sent_at", required=False),
        first_token_at=item.optional_time("first_token_at", required=False),
        finished_at=item.optional_time("finished_at", required=False),
    )
    reply.text = item.string("text")
    return reply


def _state_from(item: _Object) -> ReplyState:
    value = item.string("state")
    try:
        state = ReplyState(value)
    except ValueError:
        names = ", ".join(s.value for s in ReplyState)
        raise _invalid(item.where("state"), f"must be one of {names}, not {value!r}") from None
    # Nothing streams an imported reply: one caught mid-stream ended there.
    return ReplyState.INTERRUPTED if state.is_active else state


def _usage_from(item: _Object) -> Usage | None:
    usage = item.optional_object("usage")
    cost_usd = item.number("cost_usd")
    if usage is None:
        return None if cost_usd is None else Usage(cost_usd=cost_usd)
    return Usage(
        prompt_tokens=usage.count("prompt_tokens"),
        completion_tokens=usage.count("completion_tokens"),
        total_tokens=usage.count("total_tokens", required=False),
        cost_usd=cost_usd,
    )


def _check_metrics(item: _Object) -> None:
    """Metrics are derived and recomputed on import, but must still have their documented shape."""
    metrics = item.optional_object("metrics")
    if metrics is not None:
        metrics.number("ttft_s")
        metrics.number("tokens_per_s")
        metrics.optional_bool("tokens_estimated")
