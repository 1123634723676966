"""CatalogKeeper: the model catalogues of every endpoint, from cache and network.

At start the cache is read (off the GUI thread) so the picker, prices and
supported parameters work offline at once; catalogues older than a day, or
missing, are then fetched in the background and saved. A failed fetch keeps
the cached models and records why, for the picker to say so.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from chatroom.core.catalog import Catalog, CatalogCache, fetch_catalog
from chatroom.core.errors import ChatroomError
from chatroom.ui.session import RoomSession

__all__ = ["CatalogKeeper"]

log = logging.getLogger(__name__)


class CatalogKeeper(QObject):
    """Loads, refreshes and saves the catalogues kept in `session.catalogs`.

    Signals:
        catalogs_changed(): a catalogue was loaded, refreshed or failed to refresh.
    """

    catalogs_changed = Signal()

    def __init__(
        self,
        session: RoomSession,
        cache_path: Path,
        *,
        uncached: frozenset[str] = frozenset(),
        parent: QObject | None = None,
    ) -> None:
        """`uncached` endpoints are neither read from nor written to the cache:
        with --base-url, "openrouter" is another server for this run only."""
        super().__init__(parent)
        self._session = session
        self._cache = CatalogCache(cache_path)
        self._uncached = uncached
        self._kept: dict[str, Catalog] = {}
        self._refreshing: set[str] = set()

    @property
    def catalogs(self) -> Mapping[str, Catalog]:
        return self._session.catalogs

    def start(self, endpoints: list[str]) -> None:
        """Read the cache, then refresh what is stale or missing."""

        async def load() -> dict[str, Catalog]:
            import asyncio  # loaded after the first paint (start-up)

            return await asyncio.to_thread(self._cache.load)

        def loaded(result: dict[str, Catalog] | BaseException) -> None:
            if isinstance(result, dict):
                for name in self._uncached:
                    if name in result:  # kept in the file for later runs
                        self._kept[name] = result.pop(name)
                self._session.catalogs.update(result)
                self.catalogs_changed.emit()
            self.refresh(endpoints, only_stale=True)

        self._session.run_job(load(), loaded)

    def refresh(self, endpoints: list[str], *, only_stale: bool = False) -> None:
        """Fetch the catalogues of `endpoints` in the background."""
        for name in endpoints:
            cached = self._session.catalogs.get(name)
            if only_stale and cached is not None and not cached.is_stale() and cached.error is None:
                continue
            if name in self._refreshing:
                continue
            self._refreshing.add(name)
            self._session.run_job(self._fetch(name), functools.partial(self._fetched, name))

    async def _fetch(self, name: str) -> Catalog:
        client = await self._session.clients.client_for(name)
        return await fetch_catalog(client, name)

    def _fetched(self, name: str, result: Catalog | BaseException) -> None:
        self._refreshing.discard(name)
        if isinstance(result, Catalog):
            self._session.catalogs[name] = result
        else:
            reason = str(result) if isinstance(result, ChatroomError) else type(result).__name__
            log.info("catalogue of %s not refreshed: %s", name, reason)
            old = self._session.catalogs.get(name)
            # Keep what was cached: offline, the old list beats none.
            self._session.catalogs[name] = (
                dataclasses.replace(old, error=reason)
                if old is not None
                else Catalog(name, [], time.time(), error=reason)
            )
        self.catalogs_changed.emit()
        self._save()

    def _save(self) -> None:
        snapshot = {k: v for k, v in self._session.catalogs.items() if k not in self._uncached}
        snapshot.update(self._kept)

        async def save() -> None:
            import asyncio  # loaded after the first paint (start-up)

            await asyncio.to_thread(self._cache.save, snapshot)

        self._session.run_job(save(), lambda _result: None)
