"""Run the fake OpenRouter in the foreground: `python -m tests.fake_openrouter --port 8099`."""

from __future__ import annotations

import argparse
import time

from .scenarios import SCENARIO_IDS
from .server import FakeOpenRouter


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl+C; print the base URLs first so scripts can read them."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openrouter", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--api-key", default=None, help="require this Bearer key (default: no auth)")
    args = parser.parse_args(argv)
    with FakeOpenRouter(api_key=args.api_key, port=args.port, log_requests=True) as server:
        # The first line is the base URL alone, for scripts; the rest is for people.
        print(server.base_url, flush=True)
        print(f"  local-server style: {server.local_base_url}", flush=True)
        print(f"  models: {', '.join(SCENARIO_IDS)}, fake/http-<code>", flush=True)
        print("  Ctrl+C to stop", flush=True)
        try:
            while True:
                time.sleep(1)  # a plain sleep is interruptible by Ctrl+C everywhere
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
