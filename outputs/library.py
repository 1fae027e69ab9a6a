"""Outputs as the API service sees them: the store, the in-memory index, and the background
work (re-sync, snapshot, retention) that keeps replicas converging.

Writes go to storage first and then the index, so this replica reads its own writes at once
and the others within one sync interval; a lookup by name that misses the index asks
storage, so a file another replica made a moment ago is still found.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from config import OutputSettings
from lifecycle.periodic import TICK_SECONDS, PeriodicTasks, Task
from outputs.index import IMMUTABLE, OutputEntry, OutputIndex
from outputs.query import OutputListQuery, page_of, sort_and_page
from outputs.store import OutputMetadata, OutputStore, companion_key
from storage.base import ObjectNotFoundError
from storage.lease import Lease
from storage.synced_index import SyncedLibrary

logger = logging.getLogger(__name__)


class OutputNotFoundError(LookupError):
    """No output of that name."""


class OutputLibrary(SyncedLibrary[OutputMetadata, OutputEntry]):
    label = "outputs index"

    def __init__(self, store: OutputStore, settings: OutputSettings) -> None:
        super().__init__(OutputIndex())
        self._index: OutputIndex
        self.store = store
        self.settings = settings
        self._periodic: PeriodicTasks | None = None
        # one replica at a time runs retention; the lease outlives two checks, so its holder keeps it
        self._retention_lease = Lease(store.storage, "output-retention", timedelta(seconds=2 * settings.retention_check_seconds))

    # --- keeping the index fresh ------------------------------------------------------

    def _list_versions(self) -> dict[str, str]:
        return dict.fromkeys(self.store.list_companions(), IMMUTABLE)

    def _read_snapshot(self) -> dict[str, OutputMetadata]:
        return {companion_key(metadata.filename): metadata for metadata in self.store.read_snapshot()}

    def _fetch(self, keys: list[str]) -> list[OutputMetadata]:
        return self.store.read_many(keys)

    def _write_snapshot(self, entries: list[OutputEntry]) -> None:
        self.store.write_snapshot([entry.record for entry in entries])

    def enforce_retention(self, now: datetime | None = None) -> list[str]:
        """Delete outputs older than `max_age_days`, then the oldest while the total exceeds
        `max_total_bytes`; returns the deleted file names."""
        settings = self.settings
        if not self.loaded or (settings.max_age_days <= 0 and settings.max_total_bytes <= 0):
            return []
        now = now or datetime.now(timezone.utc)
        with self._lock:
            oldest_first = sorted(self._index.entries(), key=lambda e: (e.created, e.filename))
            total = self._index.total_bytes
        doomed: list[OutputEntry] = []
        if settings.max_age_days > 0:
            cutoff = (now - timedelta(days=settings.max_age_days)).timestamp()
            doomed = [entry for entry in oldest_first if entry.created < cutoff]
            total -= sum(entry.size for entry in doomed)
        if settings.max_total_bytes > 0:
            for entry in oldest_first[len(doomed) :]:
                if total <= settings.max_total_bytes:
                    break
                doomed.append(entry)
                total -= entry.size
        for entry in doomed:
            self.delete(entry.filename)
        if doomed:
            logger.info("retention deleted outputs", extra={"deleted": len(doomed), "bytes_kept": total})
        return [entry.filename for entry in doomed]

    def retention_turn(self) -> list[str] | None:
        """Retention, when this replica holds the lease (None when another one does)."""
        if self.settings.max_age_days <= 0 and self.settings.max_total_bytes <= 0:
            return []
        return self.enforce_retention() if self._retention_lease.acquire() else None

    def start(self) -> None:
        settings = self.settings
        self._periodic = PeriodicTasks("outputs", [
            Task("sync", lambda: settings.index_refresh_seconds if self.loaded else TICK_SECONDS, self.sync),
            Task("snapshot", lambda: settings.snapshot_seconds, self.save_snapshot),
            Task("retention", lambda: settings.retention_check_seconds, self.retention_turn),
        ])
        self._periodic.start()

    def close(self) -> None:
        if self._periodic is not None:
            self._periodic.stop()
        if self.settings.snapshot_seconds > 0:
            self.save_snapshot()

    # --- reads and writes -------------------------------------------------------------

    def get(self, filename: str) -> OutputMetadata:
        with self._lock:
            entry = self._index.get(filename)
        if entry is not None:
            return entry.metadata
        try:
            metadata = self.store.metadata(filename)
        except ObjectNotFoundError:
            raise OutputNotFoundError(filename) from None
        with self._lock:
            self._index.put(metadata)
        return metadata

    def list(self, query: OutputListQuery) -> tuple[list[OutputMetadata], int, list[str]]:
        """The page, the total matching, and (for a lookup by `names`) the names not found."""
        missing: list[str] = []
        if query.names:
            found, missing = self.lookup(query.names)
            with self._lock:
                entries = query.select([entry for metadata in found if (entry := self._index.get(metadata.filename)) is not None])
            page = sort_and_page(entries, query)
        else:
            with self._lock:
                entries = query.select(self._index.ordered(query.sort))  # already sorted: filtering keeps the order
            page = page_of(entries, query)
        return [entry.metadata for entry in page], len(entries), missing

    def lookup(self, names: list[str]) -> tuple[list[OutputMetadata], list[str]]:
        """The outputs among `names`, in the order given, and the names that are none."""
        found, missing = [], []
        for name in dict.fromkeys(names):
            try:
                found.append(self.get(name))
            except OutputNotFoundError:
                missing.append(name)
        return found, missing

    def save(self, audio: bytes | Path, metadata: OutputMetadata) -> None:
        if isinstance(audio, Path):
            self.store.save_file(audio, metadata)
        else:
            self.store.save(audio, metadata)
        with self._lock:
            self._index.put(metadata)

    def delete(self, filename: str) -> OutputMetadata:
        metadata = self.get(filename)
        self.store.delete(filename)
        with self._lock:
            self._index.remove(filename)
        return metadata

