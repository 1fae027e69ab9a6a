"""The in-memory index of outputs, so listing and search never list storage per request.

An entry keeps only what queries look at (type, time, duration, size, voice, search text)
plus the companion as compact JSON bytes, parsed again only for the page being returned:
100,000 outputs cost tens of megabytes, not a pydantic object each.

Keyed by companion key; kept in step with other replicas by `storage.synced_index`.
Companions are written once and never change, so every entry has the same version: a sync
fetches only the companions the index lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from outputs.query import SORT_KEYS
from outputs.store import OutputMetadata, companion_key
from storage.synced_index import SyncedIndex

IMMUTABLE = ""  # the version of every companion


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


@dataclass(frozen=True, slots=True)
class OutputEntry:
    filename: str
    type: str
    created: float  # POSIX seconds
    duration: float
    size: int
    voice: str | None  # casefolded
    search_text: str
    record: bytes  # the companion as compact JSON
    stamped: float  # time.monotonic() of the write or sync that produced it
    version = IMMUTABLE

    @classmethod
    def of(cls, metadata: OutputMetadata, stamped: float) -> OutputEntry:
        words = [metadata.filename, *_texts(metadata.parameters)]
        return cls(
            metadata.filename, metadata.type, metadata.created_at.timestamp(), metadata.duration_seconds, metadata.size_bytes,
            metadata.voice.casefold() if metadata.voice else None, "\n".join(words).casefold(), metadata.model_dump_json().encode(), stamped,
        )

    @property
    def metadata(self) -> OutputMetadata:
        return OutputMetadata.model_validate_json(self.record)


class OutputIndex(SyncedIndex[OutputMetadata, OutputEntry]):
    def __init__(self) -> None:
        super().__init__()
        self.total_bytes = 0
        self._orderings: dict[str, list[OutputEntry]] = {}  # sort key -> entries in ascending order, until the next change

    def key_of(self, item: OutputMetadata) -> str:
        return companion_key(item.filename)

    def version_of(self, item: OutputMetadata) -> str:
        return IMMUTABLE

    def entry_of(self, item: OutputMetadata, stamped: float) -> OutputEntry:
        return OutputEntry.of(item, stamped)

    def _added(self, entry: OutputEntry) -> None:
        self.total_bytes += entry.size
        self._orderings.clear()

    def _dropped(self, entry: OutputEntry) -> None:
        self.total_bytes -= entry.size
        self._orderings.clear()

    def get(self, filename: str) -> OutputEntry | None:
        return self._entries.get(companion_key(filename))

    def remove(self, filename: str) -> None:
        self._remove(companion_key(filename))

    def ordered(self, sort: str) -> list[OutputEntry]:
        """Every entry sorted by `sort` then file name, ascending; computed once per change of
        the index, so successive listings (the common case) only filter and slice."""
        if sort not in self._orderings:
            self._orderings[sort] = sorted(self._entries.values(), key=SORT_KEYS[sort])
        return self._orderings[sort]
