"""The in-memory index of voice records, so listing and search never read storage per request.

It is loaded at start-up from one listing plus one GET per record, updated in place by every
write this replica makes, and re-synchronised on an interval: the listing's versions say
which records another replica changed, so a sync fetches only those. A sync never undoes a
local write that happened while it ran (each local change is stamped, and a sync only
touches entries older than its own start).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from storage.voices import StoredVoice, VoiceStore, name_of_record_key
from voices.metadata import VoiceMetadata

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexEntry:
    metadata: VoiceMetadata
    version: str
    search_text: str
    stamped: float  # time.monotonic() of the local write or sync that produced it


@dataclass(frozen=True)
class SyncReport:
    voices: int
    fetched: int  # records read one by one from storage
    from_snapshot: int  # records taken from the index snapshot (version unchanged)
    removed: int
    seconds: float


class VoiceIndex:
    """Not thread-safe on its own: `VoiceLibrary` guards it with its lock."""

    def __init__(self) -> None:
        self._entries: dict[str, IndexEntry] = {}
        self._removed: dict[str, float] = {}  # name -> when this replica deleted it
        self.changed = False  # since the last snapshot was taken

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> IndexEntry | None:
        return self._entries.get(name.casefold())

    def entries(self) -> list[IndexEntry]:
        return list(self._entries.values())

    def put(self, stored: StoredVoice, stamped: float | None = None) -> None:
        key = stored.metadata.name.casefold()
        self._entries[key] = IndexEntry(stored.metadata, stored.version, stored.metadata.search_text, stamped or time.monotonic())
        self._removed.pop(key, None)
        self.changed = True

    def remove(self, name: str) -> None:
        key = name.casefold()
        self._entries.pop(key, None)
        self._removed[key] = time.monotonic()
        self.changed = True

    def snapshot(self) -> list[StoredVoice]:
        """Every entry as stored, and the index marked as captured."""
        self.changed = False
        return [StoredVoice(entry.metadata, entry.version) for entry in self._entries.values()]

    def plan_sync(self, listed: dict[str, str]) -> list[str]:
        """Names (casefolded) whose listed version differs from what the index holds."""
        return [name for name, version in listed.items() if (entry := self._entries.get(name)) is None or entry.version != version]

    def apply_sync(self, started: float, listed: dict[str, str], fetched: list[StoredVoice]) -> int:
        """Merge a sync that listed storage at `started`; returns how many entries it dropped."""
        for stored in fetched:
            key = stored.metadata.name.casefold()
            entry = self._entries.get(key)
            if (entry is None or entry.stamped < started) and self._removed.get(key, 0.0) < started:
                self.put(stored, started)
        gone = [key for key, entry in self._entries.items() if key not in listed and entry.stamped < started]
        for key in gone:
            del self._entries[key]
        self.changed |= bool(gone)
        self._removed = {key: when for key, when in self._removed.items() if when >= started}
        return len(gone)


def list_versions(store: VoiceStore) -> dict[str, str]:
    """Casefolded name -> record version, from one listing of the voices prefix."""
    return {name_of_record_key(info.key): info.version for info in store.list_records()}
