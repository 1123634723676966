"""ChatClient: streaming chat completions over httpx + httpx-sse.

A stream ends in exactly one of four ways (STYLE.md rule 8): `[DONE]` or a
finish reason ends the iteration; an error object raises ApiError; a body that
ends with neither raises StreamInterrupted; cancelling the consumer closes the
response, which ends the generation upstream. Retries happen only before the
server accepted the request (no 200 yet): a resend after that would bill twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Final
from urllib.parse import quote, urlsplit

import certifi

# httpx's __init__ imports its command-line tool when click and rich happen to
# be installed (a development venv has them): that is about 50 ms of import
# and 6 MB of the app's RSS it never uses. A None entry makes that import
# fail, and httpx falls back to a stub `httpx.main` (its own `except
# ImportError`). tests/core/test_client.py checks that none of them loads.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402  (after the entry above)
import httpx_sse  # noqa: E402

from chatroom import __version__
from chatroom.core.errors import (
    ApiError,
    ChatroomError,
    MalformedResponse,
    NetworkError,
    ReadTimeout,
    Redirected,
    StreamInterrupted,
)
from chatroom.core.protocol import (
    Finished,
    Retrying,
    StreamEvent,
    error_from_body,
    events_from_data,
    parse_retry_after,
)
from chatroom.core.secrets import ApiKey

__all__ = ["ChatClient", "describe_host"]

APP_URL: Final = "https://github.com/chatroom-app/chatroom"
APP_TITLE: Final = "Chatroom"
# A Retry-After hint above this means "not soon": fail instead of waiting (§10).
MAX_RETRY_HINT_S: Final = 120.0
MAX_BACKOFF_S: Final = 8.0
# A Retry-After hint of h seconds is waited for between 1.05 h and 1.25 h.
RETRY_HINT_MIN_FACTOR: Final = 1.05
RETRY_HINT_JITTER: Final = 0.2

Sleep = Callable[[float], Awaitable[None]]


def describe_host(base_url: str) -> str:
    """`https://openrouter.ai/api/v1` -> `openrouter.ai` (for messages)."""
    try:
        netloc = urlsplit(base_url).netloc
    except ValueError:  # e.g. an unclosed IPv6 bracket: the request will say so
        return base_url
    return netloc or base_url


def _is_http_url(url: str) -> bool:
    """Whether httpx can send to `url`; checked first, as httpx raises InvalidURL
    (no HTTPError) for some bad URLs and anyio an ExceptionGroup for a port > 65535."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    port = parsed.port
    return parsed.scheme in ("http", "https") and bool(parsed.host) and (port is None or port < 65536)


class ChatClient:
    """Talks to one OpenAI-compatible endpoint. Owns one httpx.AsyncClient.

    `key` None sends no Authorization header (local servers without auth).
    """

    def __init__(
        self,
        base_url: str,
        key: ApiKey | None = None,
        *,
        attribution: bool | None = None,
        read_timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 2,
        retry_base_s: float = 0.5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = describe_host(self.base_url)
        self._key = key
        self._attribution = (
            attribution if attribution is not None else self.host.endswith("openrouter.ai")
        )
        self.read_timeout_s = read_timeout_s
        self._max_retries = max_retries
        self._retry_base_s = retry_base_s
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            verify=_tls_context() if self.base_url.startswith("https:") else False,
            timeout=httpx.Timeout(
                connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=None
            ),
            # Redirects could carry the key to another host: never follow them.
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"ChatClient({self.base_url!r}, key={'set' if self._key else 'none'})"

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"Chatroom/{__version__}"}
        if self._key is not None:
            headers.update(self._key.auth_header())
        if self._attribution:
            headers["HTTP-Referer"] = APP_URL
            headers["X-Title"] = APP_TITLE
            headers["X-OpenRouter-Title"] = APP_TITLE
        return headers

    def _url(self, path: str) -> str:
        """The URL of `path`; NetworkError, never retried, if the base URL is not http(s)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        if not _is_http_url(url):
            raise NetworkError(f"The base URL {self.base_url!r} is not a valid http(s) URL.")
        return url

    async def stream_chat(
        self, body: Mapping[str, object]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Send a streaming chat request and yield its events.

        Yields Retrying before each resend. Raises ChatroomError subclasses only.
        """
        attempt = 0
        while True:
            try:
                # Nested generators are closed here, in this task: left to the
                # garbage collector, httpx would close the response in another.
                async with contextlib.aclosing(self._stream_once(body)) as events:
                    async for event in events:
                        yield event
                return
            except _NotAccepted as refusal:
                delay = self._retry_delay(refusal.error, attempt)
                if delay is None:
                    raise refusal.error from None
                attempt += 1
                yield Retrying(attempt, delay, str(refusal.error))
                await self._sleep(delay)

    async def _stream_once(
        self, body: Mapping[str, object]
    ) -> AsyncGenerator[StreamEvent, None]:
        accepted = False
        try:
            async with self._http.stream(
                "POST", self._url("chat/completions"), json=dict(body), headers=self._headers()
            ) as response:
                if response.status_code != 200:
                    raise _NotAccepted(await self._error_of(response))
                accepted = True
                async with contextlib.aclosing(self._events(response)) as events:
                    async for event in events:
                        yield event
        except httpx.HTTPError as exc:
            error = self._translate(exc, accepted)
            if not accepted:
                raise _NotAccepted(error) from None
            raise error from None

    async def _events(self, response: httpx.Response) -> AsyncGenerator[StreamEvent, None]:
        finished = done = False
        try:
            async with contextlib.aclosing(httpx_sse.EventSource(response).aiter_sse()) as sses:
                async for sse in sses:
                    # After [DONE] the body ends; read to its end rather than
                    # return, because httpx's line iterators abandoned mid-body
                    # are closed later by the garbage collector in another task.
                    if done or not sse.data:
                        # The SSE standard drops events without data; httpx-sse
                        # dispatches them (e.g. a lone `retry:` or `id:` field).
                        continue
                    if sse.data.startswith("[DONE]"):
                        done = finished = True
                        continue
                    for event in events_from_data(sse.data):
                        finished = finished or isinstance(event, Finished)
                        yield event
        except httpx_sse.SSEError:
            raise MalformedResponse(
                "Malformed response: the server did not send an event stream."
            ) from None
        if not finished:
            raise StreamInterrupted()

    async def _error_of(self, response: httpx.Response) -> ApiError:
        raw = await response.aread()
        return _response_error(response, raw)

    def _translate(self, exc: httpx.HTTPError, accepted: bool) -> ChatroomError:
        """An httpx error in words for the user; never includes headers or the key."""
        if isinstance(exc, httpx.ReadTimeout):
            return ReadTimeout(self.read_timeout_s)
        if accepted and isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return StreamInterrupted()
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return NetworkError(f"The base URL {self.base_url!r} is not a valid http(s) URL.")
        fix = " Check that the server is running and its base URL in Settings."
        if isinstance(exc, httpx.ConnectTimeout):
            return NetworkError(f"Cannot reach {self.host}: the connection timed out.{fix}")
        if isinstance(exc, httpx.ConnectError):
            return NetworkError(f"Cannot reach {self.host}: {_connect_reason(exc)}.{fix}")
        return NetworkError(f"Lost the connection to {self.host}: {type(exc).__name__}.")

    def _retry_delay(self, error: ChatroomError, attempt: int) -> float | None:
        """Seconds before the next attempt, or None to give up (§10)."""
        if not error.is_retryable or attempt >= self._max_retries:
            return None
        hint = error.retry_after_s if isinstance(error, ApiError) else None
        if hint is not None and hint > MAX_RETRY_HINT_S:
            return None
        if hint is not None and hint > 0:
            # Never early (qasync sleeps on Qt's coarse timers, which may fire
            # up to 5 % early) and spread, so that seats told the same
            # Retry-After do not all come back in the same instant.
            return hint * (RETRY_HINT_MIN_FACTOR + RETRY_HINT_JITTER * random.random())
        backoff = min(self._retry_base_s * 2.0**attempt, MAX_BACKOFF_S)
        return backoff * (1 - 0.25 * random.random())

    async def list_models(self) -> list[dict[str, object]]:
        """GET /models: the raw model objects (OpenRouter's or a local server's shape)."""
        response = await self._get("models")
        if response.status_code != 200:
            raise _response_error(response, response.content)
        data = _data_of(response)
        if not isinstance(data, list):
            raise MalformedResponse("Malformed response: /models did not return a list.")
        return [m for m in data if isinstance(m, dict)]

    async def get_parameters(self, model: str) -> dict[str, object] | None:
        """GET /parameters/{author}/{slug}: the `data` object; None when the endpoint is absent.

        The endpoint is missing from OpenRouter's mid-2026 spec and from local
        servers (openrouter-api.md §3), so a 404 is an answer, not an error;
        other failures raise like list_models.
        """
        # Quoted so an id's `?` or `#` stays in the path; `/` and `:` are part of ids.
        response = await self._get("parameters/" + quote(model, safe="/:"))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _response_error(response, response.content)
        data = _data_of(response)
        if not isinstance(data, dict):
            raise MalformedResponse("Malformed response: /parameters did not return an object.")
        return data

    async def _get(self, path: str) -> httpx.Response:
        """A GET of `path` under the base URL; network failures as NetworkError."""
        try:
            return await self._http.get(self._url(path), headers=self._headers())
        except httpx.HTTPError as exc:
            raise self._translate(exc, accepted=False) from None

    async def test_connection(self) -> str:
        """Check the endpoint and the key without spending tokens; a line for the user."""
        models = await self.list_models()
        if self._attribution and self._key is not None:
            # /models answers without a key on OpenRouter; /key proves the key works.
            response = await self._get("key")
            if response.status_code != 200:
                raise _response_error(response, response.content)
        auth = "key accepted" if self._key is not None else "no key sent"
        return f"Connected to {self.host}: {len(models)} models, {auth}."


def _data_of(response: httpx.Response) -> object:
    """The `data` member of a JSON object body, or None."""
    try:
        document = response.json()
    except ValueError:
        return None
    return document.get("data") if isinstance(document, dict) else None


def _response_error(response: httpx.Response, body: bytes) -> ApiError:
    """The error of a non-200 answer; a redirect names where it pointed."""
    if response.is_redirect:
        location = response.headers.get("location", "another address")
        return Redirected(response.status_code, location)
    return error_from_body(response.status_code, body, retry_after_s=parse_retry_after(response.headers))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is in the cause/context chain (anyio wraps socket errors, in groups too)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    return False


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every https endpoint.

    Loading the trust store takes 30-90 ms and holds the GIL; httpx would do it
    for every client, even for plain http, where no TLS is ever used (the
    client follows no redirects, so an http endpoint stays http).
    """
    return ssl.create_default_context(cafile=certifi.where())


class _NotAccepted(Exception):
    """Internal: the request failed before a 200, so it may be retried."""

    def __init__(self, error: ChatroomError) -> None:
        super().__init__(str(error))
        self.error = error


def _connect_reason(exc: httpx.ConnectError) -> str:
    if _caused_by(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return "the host name could not be resolved"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "the secure connection (TLS) failed"
    return "the connection failed"

