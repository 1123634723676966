"""A real HTTP/1.1 server on 127.0.0.1 that speaks OpenRouter's protocol.

Standard library only: a `ThreadingHTTPServer` runs in a daemon thread and
gives each connection a daemon thread, so a stalled stream can never keep the
process alive. Bodies of streamed replies use chunked transfer-encoding, as
OpenRouter does, so a connection survives a finished stream and a dropped
connection is visible to the client as an incomplete body.

What each model id does lives in `scenarios.py`; this module turns a
`ReplyPlan` into bytes on the wire, on schedule, and watches the socket so
that a client going away is noticed even while nothing is being written.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import json
import secrets
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from .scenarios import (
    DEFAULT_MODEL,
    Ending,
    ErrorReply,
    JsonObject,
    ReplyPlan,
    cost_usd,
    default_models,
    error_body,
    error_for_status,
    parameters_data,
    parse_model_id,
    plan_reply,
    prompt_tokens,
)

__all__ = ["FakeOpenRouter", "RecordedRequest"]

# Loopback only: test servers must never be reachable from the network.
_HOST: Final = "127.0.0.1"
_PREFIXES: Final = ("/api/v1", "/v1")  # OpenRouter style and local-server style
_PROVIDER: Final = "Fake"
_KEEPALIVE_INTERVAL_S: Final = 0.5
# Between the two halves of a cut event: long enough that the halves arrive in
# separate reads on loopback, short enough to keep tests quick.
_SPLIT_PAUSE_S: Final = 0.005
# How often a waiting handler looks at the stop flag; bounds stop() latency.
_POLL_S: Final = 0.05
_JOIN_TIMEOUT_S: Final = 2.0
_KEY_LABEL: Final = "sk-or-v1-fak...e00"  # constant: never echo any part of the real key
_PROCESSING: Final = b": OPENROUTER PROCESSING\n\n"
_DONE: Final = b"data: [DONE]\n\n"
_NO_INPUT: Final = 'Input required: specify "prompt" or "messages"'


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it, before any auth check."""

    method: str
    path: str  # without the query string
    query: str  # raw query string, "" when absent
    headers: dict[str, str]  # names lowercased; a repeated header keeps its last value
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    received_at_s: float  # time.monotonic() when the request had been read

    @property
    def model(self) -> str | None:
        """Return the body's `model` when it is a string, else None."""
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None


@dataclasses.dataclass(frozen=True)
class _Failure:
    status: int
    retry_after_s: float | None


class _ClientGone(Exception):
    """The client closed or reset the connection before the reply ended."""


class _ServerStopping(Exception):
    """stop() was called; the handler should let go of its connection."""


def _dumps(obj: object) -> bytes:
    # Compact and raw UTF-8 like OpenRouter, so multi-byte text is multi-byte on the wire.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _same_model(recorded: str, wanted: str) -> bool:
    """Match `fake/stall?x=1` when asked for either the full id or the base id."""
    return recorded == wanted or recorded.partition("?")[0] == wanted


class FakeOpenRouter:
    """An OpenRouter look-alike on 127.0.0.1 for tests and manual runs.

    Use as a context manager, or call start() and stop(). The model id of a chat
    request picks its behaviour (see `tests.fake_openrouter` for the list).
    Everything here is safe to call from any thread while the server runs.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        port: int = 0,
        log_requests: bool = False,
        max_chats: int | None = None,
    ) -> None:
        """Prepare a server; nothing is bound until start().

        api_key: None accepts any request; otherwise every endpoint needs
            `Authorization: Bearer <api_key>` and answers 401 without it.
        port: 0 picks a free port.
        log_requests: print one line per request to stderr (standalone runs).
        max_chats: serve at most this many chat replies at once; later ones
            wait unanswered until one ends (a local server's slots). None: no limit.
        """
        self.api_key = api_key
        self.log_requests = log_requests
        self._wanted_port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._disconnects: list[str] = []
        self._errors: list[BaseException] = []
        self._failures: dict[str, collections.deque[_Failure]] = {}
        self._models = default_models()
        self._spent_usd = 0.0
        self._chat_slots = threading.Semaphore(max_chats) if max_chats is not None else None
        self._active_chats = 0
        self._peak_chats = 0
        #: When set, GET /models answers this status (with an error body unless
        #: `models_body` is set too), to test clients against a missing catalogue.
        self.models_status: int | None = None
        #: When set, GET /models answers these raw bytes (e.g. b"{not json").
        self.models_body: bytes | None = None
        #: When set (e.g. to another server's base_url), every API request
        #: answers `redirect_status` with `Location: <redirect_to><endpoint>`,
        #: before any auth check, as a moved endpoint or a proxy would.
        self.redirect_to: str | None = None
        #: 307 or 308 keep the method and body; 301, 302 and 303 work too.
        self.redirect_status = 307
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Bind 127.0.0.1 and serve in a daemon thread; RuntimeError if already running."""
        if self._httpd is not None:
            raise RuntimeError("FakeOpenRouter is already running")
        self._stopping.clear()
        self._httpd = _HTTPServer(self, self._wanted_port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _POLL_S},  # the default 0.5 s would slow every stop()
            name=f"fake-openrouter:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every socket, even under an open stall; idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        for handler_thread in httpd.close_connections():
            handler_thread.join(_JOIN_TIMEOUT_S)
        httpd.server_close()
        thread.join(_JOIN_TIMEOUT_S)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenRouter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the bound port; RuntimeError before start()."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenRouter is not running")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """Return `http://127.0.0.1:PORT`."""
        return f"http://{_HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """Return the OpenRouter-style base URL, `http://127.0.0.1:PORT/api/v1`."""
        return f"{self.root_url}/api/v1"

    @property
    def local_base_url(self) -> str:
        """Return the local-server-style base URL, `http://127.0.0.1:PORT/v1`."""
        return f"{self.root_url}/v1"

    # -- what happened -----------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return a snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """Return only the POST .../chat/completions requests, oldest first."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    @property
    def disconnects(self) -> list[str]:
        """Return model ids (as sent) of replies the client left before they ended."""
        with self._lock:
            return list(self._disconnects)

    @property
    def errors(self) -> list[BaseException]:
        """Return unexpected exceptions raised in handlers: a bug in the fake or a test."""
        with self._lock:
            return list(self._errors)

    @property
    def spent_usd(self) -> float:
        """Return the summed cost of all completed replies, as /key reports it."""
        with self._lock:
            return self._spent_usd

    @property
    def peak_chats(self) -> int:
        """Return the most chat replies that were ever being served at the same time."""
        with self._lock:
            return self._peak_chats

    def wait_for_disconnect(self, model: str, timeout_s: float = 5) -> bool:
        """Wait until a reply for `model` (full or base id) saw its client leave."""
        with self._changed:
            return self._changed.wait_for(
                lambda: any(_same_model(d, model) for d in self._disconnects), timeout_s
            )

    # -- behaviour hooks ---------------------------------------------------

    def set_models(self, models: list[JsonObject]) -> None:
        """Replace the /models catalogue; listed non-scenario ids then answer like echo."""
        with self._lock:
            self._models = copy.deepcopy(models)

    def fail_next(self, model: str, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Make the next `count` chat requests for `model` fail with `status`.

        `model` matches the full id sent or its base id (before `?`). The body is
        the realistic one for that status; `Retry-After` is sent only when
        `retry_after` is given. Later requests behave normally again.
        """
        if not 400 <= status <= 599 or count < 1:
            raise ValueError(f"fail_next needs a 4xx/5xx status and count >= 1, got {status}, {count}")
        with self._lock:
            queue = self._failures.setdefault(model, collections.deque())
            queue.extend([_Failure(status, retry_after)] * count)

    def reset(self) -> None:
        """Forget requests, disconnects, errors, failures, spend, set_models(), /models overrides, redirects."""
        self.models_status = self.models_body = None
        self.redirect_to = None
        self.redirect_status = 307
        with self._lock:
            self._requests.clear()
            self._disconnects.clear()
            self._errors.clear()
            self._failures.clear()
            self._models = default_models()
            self._spent_usd = 0.0
            self._peak_chats = self._active_chats

    # -- used by the handler -----------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_disconnect(self, model: str) -> None:
        with self._changed:
            self._disconnects.append(model)
            self._changed.notify_all()

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)

    @contextlib.contextmanager
    def _chat_slot(self) -> Iterator[None]:
        """Hold a slot while one chat reply is served; wait for one under `max_chats`."""
        if self._chat_slots is not None:
            while not self._chat_slots.acquire(timeout=_POLL_S):
                if self._stopping.is_set():
                    raise _ServerStopping
        with self._lock:
            self._active_chats += 1
            self._peak_chats = max(self._peak_chats, self._active_chats)
        try:
            yield
        finally:
            with self._lock:
                self._active_chats -= 1
            if self._chat_slots is not None:
                self._chat_slots.release()

    def _add_spend(self, cost: float) -> None:
        with self._lock:
            self._spent_usd += cost

    def _take_failure(self, model: str) -> _Failure | None:
        with self._lock:
            for key in (model, model.partition("?")[0]):
                queue = self._failures.get(key)
                if queue:
                    return queue.popleft()
        return None

    def _catalogue(self) -> list[JsonObject]:
        with self._lock:
            return copy.deepcopy(self._models)

    def _find_model(self, model: str) -> JsonObject | None:
        """Find a catalogue entry by full or base id; pricing falls back to the defaults."""
        base = model.partition("?")[0]
        with self._lock:
            current = list(self._models)
        for entry in [*current, *default_models()]:
            if entry.get("id") in (model, base):
                return entry
        return None

    def _is_listed(self, model: str) -> bool:
        base = model.partition("?")[0]
        with self._lock:
            return any(entry.get("id") in (model, base) for entry in self._models)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks each connection's thread and socket so stop() can cut them all."""

    daemon_threads = True

    def __init__(self, fake: FakeOpenRouter, port: int) -> None:
        self.fake = fake
        self._open_lock = threading.Lock()
        self._open: dict[threading.Thread, socket.socket] = {}
        super().__init__((_HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection in a daemon thread, registered before it starts."""
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fake-openrouter-connection",
            daemon=True,
        )
        with self._open_lock:
            self._open[thread] = request
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Run the handler (the base class closes the socket), then unregister."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(threading.current_thread(), None)

    def close_connections(self) -> list[threading.Thread]:
        """Shut down every open connection's socket; return their threads to join.

        shutdown() rather than close(): the handler thread owns the socket and
        closes it itself, while shutdown wakes it from any blocking read.
        """
        with self._open_lock:
            items = list(self._open.items())
        for _, sock in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for thread, _ in items]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that left mid-write; keep and print anything else."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) or self.fake._stopping.is_set():
            return
        if error is not None:
            self.fake._record_error(error)
        super().handle_error(request, client_address)


class _Wire:
    """Writes one response body as HTTP/1.1 chunks and notices a departed client."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self._sock = sock
        self._stopping = stopping

    def send_chunk(self, data: bytes) -> None:
        """Send `data` as one chunk in one write, so it goes out at once."""
        self._check_peer(0)
        try:
            self._sock.sendall(b"%X\r\n" % len(data) + data + b"\r\n")
        except OSError:
            raise self._gone() from None

    def send_event(self, obj: JsonObject, *, split: bool = False) -> None:
        """Send one `data:` event; `split` cuts its bytes in two writes, mid-character."""
        data = b"data: " + _dumps(obj) + b"\n\n"
        if not split:
            self.send_chunk(data)
            return
        cut = next((i for i, byte in enumerate(data) if 0x80 <= byte < 0xC0), len(data) // 2)
        self.send_chunk(data[:cut])
        self.wait_until(time.monotonic() + _SPLIT_PAUSE_S)
        self.send_chunk(data[cut:])

    def end_body(self) -> None:
        """Send the last chunk: the body ends cleanly and the connection may be reused."""
        try:
            self._sock.sendall(b"0\r\n\r\n")
        except OSError:
            raise self._gone() from None

    def wait_until(self, deadline: float) -> None:
        """Sleep until `deadline` (monotonic), raising as soon as the client leaves."""
        while True:
            remaining = deadline - time.monotonic()
            self._check_peer(min(max(remaining, 0.0), _POLL_S))
            if remaining <= 0:
                return

    def wait_forever(self) -> None:
        """Hold the connection silently until the client leaves or the server stops."""
        while True:
            self._check_peer(_POLL_S)

    def _check_peer(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the socket to report EOF or reset.

        A readable socket with no pending request data means the client closed
        it: that is how a cancelled stream looks from here.
        """
        if self._stopping.is_set():
            raise _ServerStopping
        readable, _, _ = select.select([self._sock], [], [], timeout_s)
        if not readable:
            return
        try:
            peeked = self._sock.recv(1, socket.MSG_PEEK)
        except OSError:
            raise self._gone() from None
        if not peeked:
            raise self._gone()
        # Bytes of a pipelined request: not a departure. Don't spin on them.
        time.sleep(timeout_s)

    def _gone(self) -> Exception:
        return _ServerStopping() if self._stopping.is_set() else _ClientGone()


class _Generation:
    """Builds the JSON of one generation; every chunk repeats id, created, model, provider."""

    def __init__(self, model: str, plan: ReplyPlan, messages: list[Any], entry: JsonObject | None) -> None:
        now = int(time.time())
        self.id = f"gen-{now}-{secrets.token_hex(10)}"
        self.model = model
        self.plan = plan
        self.prompt_tokens = prompt_tokens(messages)
        self.completion_tokens = len(plan.content) + len(plan.reasoning)
        self.cost_usd = cost_usd(entry, self.prompt_tokens, self.completion_tokens)
        self._created = now

    def _envelope(self, kind: str) -> JsonObject:
        return {"id": self.id, "object": kind, "created": self._created, "model": self.model, "provider": _PROVIDER}

    def chunk(self, delta: JsonObject, finish_reason: str | None) -> JsonObject:
        """Return one §4 chunk carrying `delta`."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason,
                  "native_finish_reason": finish_reason, "logprobs": None}  # fmt: skip
        return {**self._envelope("chat.completion.chunk"), "choices": [choice]}

    def usage(self) -> JsonObject:
        """Return the §4 usage object, tokens counted as words, cost from catalogue pricing."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost": self.cost_usd,
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": len(self.plan.reasoning), "image_tokens": 0},
            "cost_details": {"upstream_inference_cost": None},
        }

    def usage_chunk(self) -> JsonObject:
        """Return the last chunk before [DONE]: `choices: []` plus usage."""
        return {**self._envelope("chat.completion.chunk"), "choices": [], "usage": self.usage()}

    @staticmethod
    def provider_error() -> JsonObject:
        """Return the §4 mid-stream error object."""
        return {"code": 502, "message": "Provider disconnected", "metadata": {"error_type": "provider_unavailable"}}

    def error_chunk(self) -> JsonObject:
        """Return the §4 error chunk that ends a failed stream."""
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error", "native_finish_reason": "error"}
        return {**self._envelope("chat.completion.chunk"), "error": self.provider_error(), "choices": [choice]}

    def completion(self) -> JsonObject:
        """Return the §5 non-streamed response; a failed plan gives §5's HTTP-200 error form."""
        failed = self.plan.ending is Ending.ERROR
        finish = "error" if failed else self.plan.finish_reason
        message = {"role": "assistant", "content": "".join(self.plan.content),
                   "reasoning": "".join(self.plan.reasoning) or None}  # fmt: skip
        choice: JsonObject = {"index": 0, "finish_reason": finish, "native_finish_reason": finish,
                              "message": message, "logprobs": None}  # fmt: skip
        if failed:
            choice["error"] = self.provider_error()
        return {**self._envelope("chat.completion"), "choices": [choice], "usage": self.usage()}


def _deltas(plan: ReplyPlan) -> list[tuple[JsonObject, str | None]]:
    """Return the plan's deltas: reasoning first, role on the first, finish on the last."""
    deltas: list[JsonObject] = [
        {"content": "", "reasoning": token,
         "reasoning_details": [{"type": "reasoning.text", "text": token, "format": "unknown", "index": 0}]}
        for token in plan.reasoning
    ]  # fmt: skip
    deltas += [{"content": token} for token in plan.content]
    finishes = plan.ending is Ending.DONE
    if finishes and not plan.content:
        deltas.append({"content": ""})  # finish_reason needs a chunk to ride on
    if deltas:
        deltas[0] = {"role": "assistant", **deltas[0]}
    result: list[tuple[JsonObject, str | None]] = [(delta, None) for delta in deltas]
    if finishes and result:
        result[-1] = (result[-1][0], plan.finish_reason)
    return result


def _keep_alive(wire: _Wire, delay_s: float) -> None:
    """Wait `delay_s` before the first token, sending OpenRouter's keep-alive comments."""
    start = time.monotonic()
    next_ping = start + _KEEPALIVE_INTERVAL_S
    while next_ping < start + delay_s:
        wire.wait_until(next_ping)
        wire.send_chunk(_PROCESSING)
        next_ping += _KEEPALIVE_INTERVAL_S
    wire.wait_until(start + delay_s)


def _play(wire: _Wire, gen: _Generation) -> None:
    """Stream a plan. Tokens are scheduled from one start time, so sleeps never drift."""
    plan = gen.plan
    wire.send_chunk(_PROCESSING)
    _keep_alive(wire, plan.delay_s)
    start = time.monotonic()
    for index, (delta, finish) in enumerate(_deltas(plan)):
        wire.wait_until(start + index * plan.interval_s)
        wire.send_event(gen.chunk(delta, finish), split=plan.split_utf8)
        if index == plan.malformed_after:
            wire.send_chunk(b'data: {"id":"' + gen.id.encode() + b'","choices":[{"delta":{"content":"oops\n\n')
    _end(wire, gen)


def _end(wire: _Wire, gen: _Generation) -> None:
    """Finish the body the way the plan says."""
    ending = gen.plan.ending
    if ending is Ending.DONE:
        wire.send_event(gen.usage_chunk())
        wire.send_chunk(_DONE)
        wire.end_body()
    elif ending is Ending.ERROR:
        wire.send_event(gen.error_chunk())
        wire.end_body()
    elif ending is Ending.STALL:
        wire.wait_forever()
    elif ending is Ending.DROP_CLEAN:
        wire.end_body()
    # Ending.DROP: send nothing more; the handler closes the socket mid-body.


_Route = Callable[["_Handler", RecordedRequest, bytes], None]


class _Handler(BaseHTTPRequestHandler):
    """Routes one connection's requests to the OpenRouter endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenRouter/1.0"
    # Nagle's algorithm would hold small SSE writes until the previous one is
    # ACKed (up to 40 ms with delayed ACKs on Linux), ruining token rates.
    disable_nagle_algorithm = True
    server: _HTTPServer

    @property
    def fake(self) -> FakeOpenRouter:
        """Return the FakeOpenRouter this handler serves."""
        return self.server.fake

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT (always 404 or 405)."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE (always 404 or 405)."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Handle PATCH (always 404 or 405)."""
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        """Log only when asked: test output should stay quiet."""
        if self.fake.log_requests:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        raw = self._read_body()
        path, _, query = self.path.partition("?")
        request = RecordedRequest(
            method=self.command,
            path=path,
            query=query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=_parse_json(raw),
            received_at_s=time.monotonic(),
        )
        self.fake._record(request)
        endpoint = _endpoint(path) or ""
        route = _route(endpoint)
        if route is None:
            self._send_json(404, error_body(404, "Not Found"))
            return
        target = self.fake.redirect_to
        if target is not None:
            location = target.rstrip("/") + endpoint + (f"?{query}" if query else "")
            self._send_bytes(self.fake.redirect_status, b"", {"Location": location})
            return
        auth_problem = self._auth_problem()
        if auth_problem is not None:
            self._send_json(401, error_body(401, auth_problem))
            return
        method, handle = route
        if self.command != method:
            self._send_json(405, error_body(405, "Method Not Allowed"), {"Allow": method})
            return
        handle(self, request, raw)

    def _read_body(self) -> bytes:
        try:
            length = self.headers.get("Content-Length")
            if length is not None:
                return self.rfile.read(int(length))
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked_body()
        except ValueError:
            self.close_connection = True  # framing is lost; don't read another request
        return b""

    def _read_chunked_body(self) -> bytes:
        parts: list[bytes] = []
        while size := int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers: nothing we use
        return b"".join(parts)

    def _auth_problem(self) -> str | None:
        """Return OpenRouter's 401 message if the request is not authorised, else None."""
        key = self.fake.api_key
        if key is None:
            return None
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if not token:
            return "No auth credentials found"
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), key.encode()):
            return "User not found."
        return None

    # -- endpoints ---------------------------------------------------------

    def _chat(self, request: RecordedRequest, raw: bytes) -> None:
        body = request.body
        if body is None and raw.strip():
            self._send_json(400, error_body(400, "Invalid JSON in request body"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send_json(400, error_body(400, _NO_INPUT))
            return
        model = body.get("model", DEFAULT_MODEL)
        if not isinstance(model, str) or not model:
            self._send_json(400, error_body(400, f"model must be a non-empty string, got {model!r}"))
            return
        failure = self.fake._take_failure(model)
        if failure is not None:
            self._send_error_reply(error_for_status(failure.status, model, failure.retry_after_s))
            return
        try:
            outcome = plan_reply(
                parse_model_id(model), body, is_listed=self.fake._is_listed(model), origin=self.fake.root_url
            )
        except ValueError as exc:
            self._send_json(400, error_body(400, str(exc)))
            return
        if isinstance(outcome, ErrorReply):
            self._send_error_reply(outcome)
            return
        gen = _Generation(model, outcome, body["messages"], self.fake._find_model(model))
        with self.fake._chat_slot():
            if body.get("stream") is True:
                self._stream(gen)
            else:
                self._complete(gen)

    def _stream(self, gen: _Generation) -> None:
        """Answer with SSE; record a disconnect if the client leaves before the end."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Generation-Id", gen.id)
        if gen.plan.ending in (Ending.DROP, Ending.DROP_CLEAN):
            self.send_header("Connection", "close")  # also sets close_connection
        wire = _Wire(self.connection, self.fake._stopping)
        try:
            self.end_headers()
            _play(wire, gen)
        except (_ClientGone, ConnectionError):
            self.close_connection = True
            if not self.fake._stopping.is_set():
                self.fake._record_disconnect(gen.model)
            return
        except _ServerStopping:
            self.close_connection = True
            return
        if gen.plan.ending is Ending.DONE:
            self.fake._add_spend(gen.cost_usd)

    def _complete(self, gen: _Generation) -> None:
        """Answer with one JSON body after as long as streaming would have taken."""
        plan = gen.plan
        wire = _Wire(self.connection, self.fake._stopping)
        try:
            if plan.ending is Ending.STALL:
                wire.wait_forever()
            wire.wait_until(time.monotonic() + plan.delay_s + len(_deltas(plan)) * plan.interval_s)
        except _ClientGone:
            self.close_connection = True
            self.fake._record_disconnect(gen.model)
            return
        except _ServerStopping:
            self.close_connection = True
            return
        if plan.ending in (Ending.DROP, Ending.DROP_CLEAN):
            self.close_connection = True  # no status line at all
            return
        if plan.malformed_after is not None:
            truncated = _dumps(gen.completion())[:60]
            self._send_bytes(200, truncated, {"X-Generation-Id": gen.id})
            return
        self._send_json(200, gen.completion(), {"X-Generation-Id": gen.id})
        if plan.ending is Ending.DONE:
            self.fake._add_spend(gen.cost_usd)

    def _models(self, request: RecordedRequest, raw: bytes) -> None:
        status, body = self.fake.models_status, self.fake.models_body
        if body is not None:
            self._send_bytes(status or 200, body)
            return
        if status is not None:
            phrase = self.responses.get(status, (f"Error {status}",))[0]
            self._send_json(status, error_body(status, phrase))
            return
        models = self.fake._catalogue()
        wanted = {p for p in dict(parse_qsl(request.query)).get("supported_parameters", "").split(",") if p}
        if wanted:
            models = [m for m in models if wanted <= set(m.get("supported_parameters") or [])]
        self._send_json(200, {"data": models, "total_count": len(models), "links": {"next": None}})

    def _parameters(self, request: RecordedRequest, raw: bytes) -> None:
        """§3 GET /parameters/{author}/{slug}: listed models only; `?provider=` is ignored."""
        model = unquote(request.path.partition("/parameters/")[2])
        entry = next((m for m in self.fake._catalogue() if m.get("id") == model), None)
        if entry is None:
            self._send_json(404, error_body(404, f"Model {model} not found"))
            return
        self._send_json(200, {"data": parameters_data(entry)})

    def _key(self, request: RecordedRequest, raw: bytes) -> None:
        spent = self.fake.spent_usd
        data = {
            "label": _KEY_LABEL, "limit": None, "limit_remaining": None, "limit_reset": None,
            "usage": spent, "usage_daily": spent, "usage_weekly": spent, "usage_monthly": spent,
            "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
            "include_byok_in_limit": False, "is_free_tier": False, "is_management_key": False,
            "is_provisioning_key": False, "expires_at": None,
            "rate_limit": {"requests": -1, "interval": "10s"},  # §8: deprecated, still sent
        }  # fmt: skip
        self._send_json(200, {"data": data})

    # -- writing -----------------------------------------------------------

    def _send_error_reply(self, reply: ErrorReply) -> None:
        self._send_json(reply.status, reply.body, reply.headers)

    def _send_json(self, status: int, obj: JsonObject, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, _dumps(obj), headers)

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client left; nothing to tell it


_ROUTES: Final[dict[str, tuple[str, _Route]]] = {
    "/chat/completions": ("POST", _Handler._chat),
    "/models": ("GET", _Handler._models),
    "/key": ("GET", _Handler._key),
    "/auth/key": ("GET", _Handler._key),  # §8: the older name of /key
}


_PARAMETERS_PREFIX: Final = "/parameters/"


def _route(endpoint: str) -> tuple[str, _Route] | None:
    """Return the route for an endpoint path; `/parameters/...` takes a model id."""
    if endpoint.startswith(_PARAMETERS_PREFIX) and len(endpoint) > len(_PARAMETERS_PREFIX):
        return ("GET", _Handler._parameters)
    return _ROUTES.get(endpoint)


def _endpoint(path: str) -> str | None:
    """Return the path under /api/v1 or /v1 (`/models`), or None for any other path."""
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return None


def _parse_json(raw: bytes) -> Any:
    """Return the parsed body, or None when it is empty or not valid UTF-8 JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None
