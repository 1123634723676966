"""Origins: which server a URL reaches (scheme, host, port), and whether it is this machine.

A stored API key is bound to the origin it was saved for (see `secrets`), so
this module decides when two base URLs are "the same server". It is strict on
purpose: a URL that parsers could read two ways (user info, a backslash,
whitespace or control characters) has no origin, and no stored key goes to it.
Two spellings of one host (`localhost` and `127.0.0.1`, a trailing dot, an
IDNA and a Unicode name) are different origins: refusing a key too often costs
one confirmation in Settings, sending it too often costs the key.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

__all__ = ["is_loopback_url", "origin_of"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`HTTPS://OpenRouter.ai:443/api/v1` -> `https://openrouter.ai`; None if not a plain http(s) URL.

    The scheme and host are lower-cased and a default port is left out, as
    browsers serialise an origin; any other port stays (`http://127.0.0.1:8099`).
    """
    text = url.strip()
    if not text or any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in text):
        return None
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    shown_host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown_host}"
    return f"{scheme}://{shown_host}:{port}"


def is_loopback_url(url: str) -> bool:
    """Whether `url` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
