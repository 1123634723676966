"""Finding OpenAI-compatible servers on this machine's usual ports.

Each port gets one `GET /v1/models` with a short timeout, all at once, so a
scan takes about one timeout however many ports are probed. Only loopback is
ever probed: scanning other hosts is not this module's business, and a key is
never sent (a server that wants one is not found; add it by hand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chatroom.core.errors import ChatroomError
from chatroom.core.settings import is_loopback_url

__all__ = ["KNOWN_LOCAL_SERVERS", "FoundServer", "detect_local_servers"]

#: (kind, default port) of the local servers in openrouter-api.md §9.
KNOWN_LOCAL_SERVERS: Final = (
    ("Ollama", 11434),
    ("llama.cpp", 8080),
    ("LM Studio", 1234),
    ("vLLM", 8000),
)

# The `owned_by` of a /v1/models item names the server better than its port
# does (§9): another server may run on 8080. Ollama's default is "library".
_KIND_BY_OWNER: Final = {"llamacpp": "llama.cpp", "vllm": "vLLM", "library": "Ollama"}


@dataclass(frozen=True)
class FoundServer:
    """A server that answered /v1/models: what it seems to be, where, which models."""

    kind: str
    base_url: str
    models: tuple[str, ...]


async def detect_local_servers(
    ports: Sequence[tuple[str, int]] = KNOWN_LOCAL_SERVERS,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 0.5,
) -> list[FoundServer]:
    """The servers among `ports` (kind, port) on `host` that list models, in `ports` order.

    Ports that refuse, time out, answer an error or something other than a
    model list are skipped. Raises ValueError when `host` is not loopback.
    """
    literal = f"[{host}]" if ":" in host else host  # an IPv6 address needs brackets
    if not is_loopback_url(f"http://{literal}/"):
        raise ValueError(f"Only this machine is probed for servers, not {host}.")
    probes = (_probe(kind, f"http://{literal}:{port}/v1", timeout_s) for kind, port in ports)
    found = await asyncio.gather(*probes)
    return [server for server in found if server is not None]


async def _probe(kind: str, base_url: str, timeout_s: float) -> FoundServer | None:
    # httpx is imported on first use, not at start-up (about 85 ms).
    from chatroom.core.client import ChatClient

    client = ChatClient(
        base_url, None, read_timeout_s=timeout_s, connect_timeout_s=timeout_s, max_retries=0
    )
    try:
        # The read timeout is per chunk; this bounds a server that trickles bytes.
        models = await asyncio.wait_for(client.list_models(), timeout=2 * timeout_s)
    except (ChatroomError, TimeoutError):
        return None
    finally:
        await client.aclose()
    ids = tuple(model_id for m in models if isinstance(model_id := m.get("id"), str))
    return FoundServer(_kind_of(kind, models), base_url, ids)


def _kind_of(port_kind: str, models: list[dict[str, object]]) -> str:
    """The kind named by the first known `owned_by`, else the kind of the port."""
    for model in models:
        owner = model.get("owned_by")
        if isinstance(owner, str) and owner in _KIND_BY_OWNER:
            return _KIND_BY_OWNER[owner]
    return port_kind
