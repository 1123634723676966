"""detect_local_servers against real servers on 127.0.0.1 (fake ones on free ports)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatroom.core.discovery import KNOWN_LOCAL_SERVERS, FoundServer, detect_local_servers
from tests.fake_openrouter import FakeOpenRouter


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own.

    When tests/ui ran first in this process, pytest-qt's session-wide qasync
    loop counts as running in the main thread, and asyncio.run refuses to
    start there.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def dead_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def local_fake() -> Iterator[FakeOpenRouter]:
    """A fake server without auth, as a local server usually runs."""
    with FakeOpenRouter() as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


class _HtmlHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Not an API</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet in tests


@pytest.fixture
def html_port() -> Iterator[int]:
    """Some other web server: answers 200 with HTML."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_known_servers_are_the_documented_defaults() -> None:
    assert KNOWN_LOCAL_SERVERS == (
        ("Ollama", 11434), ("llama.cpp", 8080), ("LM Studio", 1234), ("vLLM", 8000),
    )


def test_finds_a_server_and_skips_a_dead_port(local_fake: FakeOpenRouter) -> None:
    found = run(
        detect_local_servers([("Ollama", dead_port()), ("llama.cpp", local_fake.port)])
    )
    assert len(found) == 1
    server = found[0]
    assert server == FoundServer("llama.cpp", local_fake.local_base_url, server.models)
    assert "fake/echo" in server.models
    # One request, to the /v1 path, without a key.
    (request,) = local_fake.requests
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert "authorization" not in {name.lower() for name in request.headers}


def test_nothing_found() -> None:
    assert run(detect_local_servers([("vLLM", dead_port())])) == []
    assert run(detect_local_servers([])) == []


def test_kind_comes_from_owned_by(local_fake: FakeOpenRouter) -> None:
    local_fake.set_models([{"id": "qwen3:8b", "object": "model", "owned_by": "library"},
                           {"object": "model", "owned_by": "library"}])  # no id: left out
    found = run(detect_local_servers([("vLLM", local_fake.port)]))
    assert found == [FoundServer("Ollama", local_fake.local_base_url, ("qwen3:8b",))]
    local_fake.set_models([{"id": "m", "owned_by": "vllm"}])
    found = run(detect_local_servers([("llama.cpp", local_fake.port)]))
    assert [s.kind for s in found] == ["vLLM"]
    local_fake.set_models([{"id": "m", "owned_by": "someone"}])
    found = run(detect_local_servers([("LM Studio", local_fake.port)]))
    assert [s.kind for s in found] == ["LM Studio"]


def test_several_servers_at_once_in_the_given_order() -> None:
    with FakeOpenRouter() as first, FakeOpenRouter() as second:
        found = run(
            detect_local_servers([("A", second.port), ("B", dead_port()), ("C", first.port)])
        )
        assert [(s.kind, s.base_url) for s in found] == [
            ("A", second.local_base_url), ("C", first.local_base_url)
        ]


def test_a_server_that_wants_a_key_is_skipped() -> None:
    with FakeOpenRouter(api_key="sk-test-needs-a-key") as server:
        assert run(detect_local_servers([("vLLM", server.port)])) == []


def test_a_web_page_is_not_a_server(html_port: int) -> None:
    assert run(detect_local_servers([("llama.cpp", html_port)])) == []


def test_a_silent_port_times_out_quickly(silent_port: int, local_fake: FakeOpenRouter) -> None:
    started = time.monotonic()
    found = run(
        detect_local_servers([("vLLM", silent_port), ("Ollama", local_fake.port)], timeout_s=0.3)
    )
    assert time.monotonic() - started < 10.0  # the timeout works; not a speed goal
    assert [s.base_url for s in found] == [local_fake.local_base_url]


@pytest.mark.parametrize("host", ["localhost", "::1", "127.0.0.2"])
def test_other_loopback_hosts_are_allowed(host: str) -> None:
    assert run(detect_local_servers([("vLLM", dead_port())], host=host)) == []


@pytest.mark.parametrize("host", ["192.168.1.5", "example.com", "0.0.0.0", "10.0.0.1"])
def test_only_loopback_is_probed(host: str) -> None:
    with pytest.raises(ValueError, match="Only this machine"):
        run(detect_local_servers([("vLLM", 8000)], host=host))
