"""An in-memory index of records in storage, kept in step with other replicas: the one
implementation behind the voice library's and the outputs' indexes.

Each replica updates its index in place on its own writes and re-synchronises on an
interval from one listing: the listing's versions say which records changed elsewhere, so a
sync fetches only those (on a cold start, records a snapshot holds at their listed version
are taken from it instead). A sync never undoes a local write or delete that happened while
it ran: every entry and every local delete is stamped with `time.monotonic()`, and a sync
only touches what is older than its own start.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from storage.base import StorageError

logger = logging.getLogger(__name__)

Item = TypeVar("Item")  # a record as read from storage


class Stamped(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def stamped(self) -> float: ...


Entry = TypeVar("Entry", bound=Stamped)


@dataclass(frozen=True)
class SyncReport:
    entries: int
    fetched: int  # records read one by one from storage
    from_snapshot: int  # records taken from the index snapshot (version unchanged)
    removed: int
    seconds: float


class SyncedIndex(ABC, Generic[Item, Entry]):
    """Entries by key. Not thread-safe on its own: its `SyncedLibrary` holds the lock."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._removed: dict[str, float] = {}  # key -> when this replica deleted it
        self.changed = False  # since the last snapshot was taken

    @abstractmethod
    def key_of(self, item: Item) -> str: ...

    @abstractmethod
    def version_of(self, item: Item) -> str: ...

    @abstractmethod
    def entry_of(self, item: Item, stamped: float) -> Entry: ...

    def _added(self, entry: Entry) -> None:
        """Called for every entry put in: derived state (totals, orderings) follows."""

    def _dropped(self, entry: Entry) -> None:
        """Called for every entry replaced or removed."""

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def put(self, item: Item, stamped: float | None = None) -> None:
        key = self.key_of(item)
        self._drop(key)
        entry = self._entries[key] = self.entry_of(item, stamped or time.monotonic())
        self._added(entry)
        self._removed.pop(key, None)
        self.changed = True

    def _drop(self, key: str) -> None:
        if (old := self._entries.pop(key, None)) is not None:
            self._dropped(old)
            self.changed = True

    def _remove(self, key: str) -> None:
        self._drop(key)
        self._removed[key] = time.monotonic()

    def stale(self, listed: Mapping[str, str]) -> list[str]:
        """Listed keys whose version differs from what the index holds (or that it lacks)."""
        return [key for key, version in listed.items() if (entry := self._entries.get(key)) is None or entry.version != version]

    def apply_sync(self, started: float, listed: Mapping[str, str], fetched: Iterable[Item]) -> int:
        """Merge a sync that listed storage at `started`; returns how many entries it dropped."""
        for item in fetched:
            key = self.key_of(item)
            entry = self._entries.get(key)
            if (entry is None or entry.stamped < started) and self._removed.get(key, 0.0) < started:
                self.put(item, started)
        gone = [key for key, entry in self._entries.items() if key not in listed and entry.stamped < started]
        for key in gone:
            self._drop(key)
        self._removed = {key: when for key, when in self._removed.items() if when >= started}
        return len(gone)


class SyncedLibrary(ABC, Generic[Item, Entry]):
    """The sync and snapshot half of a library (voices, outputs) over a `SyncedIndex`;
    subclasses say how their records are listed, read and snapshotted."""

    label = "index"  # for the log

    def __init__(self, index: SyncedIndex[Item, Entry]) -> None:
        self._index = index
        self._lock = threading.RLock()
        self.loaded = False  # the first sync succeeded: listings are complete

    @abstractmethod
    def _list_versions(self) -> dict[str, str]:
        """Index key -> version of every record, from one listing."""

    @abstractmethod
    def _read_snapshot(self) -> dict[str, Item]:
        """The last snapshot any replica wrote, by index key ({} when none or unreadable)."""

    @abstractmethod
    def _fetch(self, keys: list[str]) -> list[Item]:
        """The records at these index keys, read in parallel (vanished ones left out)."""

    @abstractmethod
    def _write_snapshot(self, entries: list[Entry]) -> None: ...

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._index)

    def sync(self) -> SyncReport:
        """Bring the index up to date with storage: one listing, then a GET per changed
        record; on a cold start, records the snapshot holds at their listed version are
        taken from it instead."""
        started = time.monotonic()
        listed = self._list_versions()
        with self._lock:
            wanted = self._index.stale(listed)
        cached = self._read_snapshot() if wanted and not self.loaded else {}
        reused = [cached[key] for key in wanted if key in cached and self._index.version_of(cached[key]) == listed[key]]
        reused_keys = {self._index.key_of(item) for item in reused}
        fetched = self._fetch([key for key in wanted if key not in reused_keys])
        with self._lock:
            removed = self._index.apply_sync(started, listed, reused + fetched)
            report = SyncReport(len(self._index), len(fetched), len(reused), removed, round(time.monotonic() - started, 3))
            self.loaded = True
        if report.fetched or report.removed or report.from_snapshot:
            logger.info(
                f"{self.label} synced",
                extra={"entries": report.entries, "fetched": report.fetched, "from_snapshot": report.from_snapshot, "removed": report.removed, "seconds": report.seconds},
            )
        return report

    def save_snapshot(self) -> bool:
        """Write the index snapshot if the index changed since the last one; True if written."""
        with self._lock:
            if not self.loaded or not self._index.changed:
                return False
            entries = self._index.entries()
            self._index.changed = False
        try:
            self._write_snapshot(entries)
        except StorageError:
            with self._lock:
                self._index.changed = True
            raise
        return True
