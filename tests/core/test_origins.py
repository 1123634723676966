"""Tests for chatroom.core.origins: when two base URLs are the same server for a key."""

from __future__ import annotations

import pytest

from chatroom.core.origins import is_loopback_url, origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://openrouter.ai/api/v1", "https://openrouter.ai"),
        ("https://openrouter.ai", "https://openrouter.ai"),
        ("HTTPS://OpenRouter.AI/API/v1/", "https://openrouter.ai"),
        ("https://openrouter.ai:443/api/v1", "https://openrouter.ai"),
        ("  https://openrouter.ai/api/v1\n", "https://openrouter.ai"),
        ("https://openrouter.ai/other/path?x=1#y", "https://openrouter.ai"),
        ("http://127.0.0.1:8099/api/v1", "http://127.0.0.1:8099"),
        ("http://127.0.0.1:80/v1", "http://127.0.0.1"),
        ("https://127.0.0.1:80/v1", "https://127.0.0.1:80"),
        ("http://localhost:11434/v1", "http://localhost:11434"),
        ("http://[::1]:8000/v1", "http://[::1]:8000"),
        ("http://[::1]/v1", "http://[::1]"),
    ],
)
def test_an_origin_is_scheme_host_and_a_port_other_than_the_default(url: str, origin: str) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "openrouter.ai/api/v1",  # no scheme
        "ftp://openrouter.ai/api/v1",
        "file:///etc/passwd",
        "https:///api/v1",  # no host
        "https://openrouter.ai:99999/v1",  # a port out of range
        "https://openrouter.ai:port/v1",
        "https://user@openrouter.ai/v1",  # user info: parsers disagree on where the host is
        "https://openrouter.ai@gateway.example/v1",
        "https://user:pw@openrouter.ai/v1",
        "https://gateway.example\\@openrouter.ai/v1",  # a backslash: WHATWG reads the host differently
        "https://openrouter .ai/v1",
        "https://openrouter.ai/\x00v1",
        "https://[::1/v1",  # an unclosed IPv6 bracket
    ],
)
def test_a_url_that_is_not_plain_http_has_no_origin(url: str) -> None:
    assert origin_of(url) is None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("https://openrouter.ai/api/v1", "http://openrouter.ai/api/v1"),  # scheme
        ("https://openrouter.ai/api/v1", "https://openrouter.ai:8443/api/v1"),  # port
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8081/v1"),
        ("https://openrouter.ai/api/v1", "https://api.openrouter.ai/api/v1"),  # a subdomain
        ("https://openrouter.ai/api/v1", "https://openrouter.ai.gateway.example/api/v1"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai./api/v1"),  # a trailing dot
        ("http://localhost:8080/v1", "http://127.0.0.1:8080/v1"),  # spelled differently
    ],
)
def test_different_servers_have_different_origins(first: str, second: str) -> None:
    assert origin_of(first) is not None and origin_of(second) is not None
    assert origin_of(first) != origin_of(second)


@pytest.mark.parametrize(
    ("url", "is_loopback"),
    [
        ("http://localhost:8080/v1", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://127.8.9.10/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://192.168.1.20:11434/v1", False),
        ("http://127.0.0.1.nip.io/v1", False),
        ("https://openrouter.ai/api/v1", False),
        ("http://[::1/v1", False),
    ],
)
def test_loopback_urls_are_this_machine(url: str, is_loopback: bool) -> None:
    assert is_loopback_url(url) is is_loopback
