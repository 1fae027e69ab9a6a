"""The in-memory index of voice records, so listing and search never read storage per
request. Keyed by casefolded name; kept in step with other replicas by `storage.synced_index`.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.synced_index import SyncedIndex
from voices.metadata import VoiceMetadata
from voices.store import StoredVoice


@dataclass(frozen=True)
class IndexEntry:
    metadata: VoiceMetadata
    version: str
    search_text: str
    stamped: float  # time.monotonic() of the local write or sync that produced it


class VoiceIndex(SyncedIndex[StoredVoice, IndexEntry]):
    def key_of(self, item: StoredVoice) -> str:
        return item.metadata.name.casefold()

    def version_of(self, item: StoredVoice) -> str:
        return item.version

    def entry_of(self, item: StoredVoice, stamped: float) -> IndexEntry:
        return IndexEntry(item.metadata, item.version, item.metadata.search_text, stamped)

    def get(self, name: str) -> IndexEntry | None:
        return self._entries.get(name.casefold())

    def remove(self, name: str) -> None:
        self._remove(name.casefold())
