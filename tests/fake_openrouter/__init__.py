"""A fake OpenRouter server for tests and manual runs (see ARCHITECTURE.md).

A real HTTP/1.1 server on 127.0.0.1 serving `/api/v1` (and `/v1`, posing as a
local server): `POST /chat/completions` (SSE or JSON), `GET /models`,
`GET /key`. The request's model id picks the behaviour; options go after `?`:

- `fake/echo`: streams the last user message back, a word per delta.
- `fake/lorem[?rate=N]`: `max_tokens` words (default 50) at N tokens/s (default 200).
- `fake/slow-start[?delay=S]`: keep-alive comments for S seconds (default 1.5), then echo.
- `fake/stall`: a few words, then silence until the client leaves (recorded in `disconnects`).
- `fake/midstream-error`: a few words, then §4's error chunk (502, finish_reason "error"); no [DONE].
- `fake/drop[?clean=1]`: a few words, then the connection closes mid-body (with
  `clean=1`: the body ends properly) with no finish_reason and no [DONE].
- `fake/http-<code>[?retry_after=S]`: that status with OpenRouter's error body;
  429 sends `Retry-After: 1` unless overridden.
- `fake/reasoning`: `reasoning` deltas, then the answer as content.
- `fake/malformed`: a word, a `data:` line with broken JSON, then the rest.
- `fake/utf8`: multi-byte text with each event's bytes cut mid-character across writes.
- `fake/hostile`: Markdown and raw HTML that try to fetch images, style sheets,
  fonts and frames from the server itself, run script, and hide a link's target
  (`scenarios.hostile_markdown`); any fetch shows in `requests`.
- `fake/huge[?kb=N&chunk=C&rate=R]`: N KiB of lorem paragraphs (default 1024)
  in deltas of C characters (default 4096), R deltas/s (default 500).

`redirect_to` (e.g. another server's `base_url`) makes every API request
answer `redirect_status` (307 by default) pointing there, to test that a client
neither follows it nor carries its key to the other host.

`FakeOpenRouter(max_chats=1)` serves one chat reply at a time, as a local
server with one slot does: later requests wait unanswered (no headers, no
bytes) until a slot frees; `peak_chats` tells how many were ever served at once.

Other ids listed by /models (see `set_models`) echo; anything else is a 404.
Run standalone with `python -m tests.fake_openrouter --port 8099`.
"""

from .server import FakeOpenRouter, RecordedRequest

__all__ = ["FakeOpenRouter", "RecordedRequest"]
