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

Other ids listed by /models (see `set_models`) echo; anything else is a 404.
Run standalone with `python -m tests.fake_openrouter --port 8099`.
"""

from .server import FakeOpenRouter, RecordedRequest

__all__ = ["FakeOpenRouter", "RecordedRequest"]
