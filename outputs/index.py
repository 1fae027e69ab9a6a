"""The in-memory index of outputs, so listing and search never list storage per request.

An entry keeps only what queries look at (type, time, duration, size, voice, search text)
plus the companion as compact JSON bytes, parsed again only for the page being returned:
100,000 outputs cost tens of megabytes, not a pydantic object each.

Like the voice index it is updated in place by this replica's writes and re-synchronised on
an interval from one listing; a sync never undoes a local write or delete that happened
while it ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from outputs.query import SORT_KEYS
from storage.outputs import OutputMetadata, companion_key


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


class OutputIndex:
    """Keyed by companion key. Not thread-safe on its own: `OutputLibrary` holds the lock."""

    def __init__(self) -> None:
        self._entries: dict[str, OutputEntry] = {}
        self._removed: dict[str, float] = {}
        self.total_bytes = 0
        self.changed = False
        self._orderings: dict[str, list[OutputEntry]] = {}  # sort key -> entries in ascending order, until the next change

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, filename: str) -> OutputEntry | None:
        return self._entries.get(companion_key(filename))

    def entries(self) -> list[OutputEntry]:
        return list(self._entries.values())

    def ordered(self, sort: str) -> list[OutputEntry]:
        """Every entry sorted by `sort` then file name, ascending; computed once per change of
        the index, so successive listings (the common case) only filter and slice."""
        if sort not in self._orderings:
            self._orderings[sort] = sorted(self._entries.values(), key=SORT_KEYS[sort])
        return self._orderings[sort]

    def put(self, metadata: OutputMetadata, stamped: float | None = None) -> None:
        key = companion_key(metadata.filename)
        self._drop(key)
        entry = OutputEntry.of(metadata, stamped or time.monotonic())
        self._entries[key] = entry
        self._orderings.clear()
        self.total_bytes += entry.size
        self._removed.pop(key, None)
        self.changed = True

    def _drop(self, key: str) -> None:
        if (old := self._entries.pop(key, None)) is not None:
            self.total_bytes -= old.size
            self.changed = True
            self._orderings.clear()

    def remove(self, filename: str) -> None:
        key = companion_key(filename)
        self._drop(key)
        self._removed[key] = time.monotonic()

    def missing(self, listed: Iterable[str]) -> list[str]:
        """Listed companion keys the index does not hold."""
        return [key for key in listed if key not in self._entries]

    def apply_sync(self, started: float, listed: set[str], fetched: list[OutputMetadata]) -> int:
        """Merge a sync that listed storage at `started`; returns how many entries it dropped."""
        for metadata in fetched:
            key = companion_key(metadata.filename)
            if key not in self._entries and self._removed.get(key, 0.0) < started:
                self.put(metadata, started)
        gone = [key for key, entry in self._entries.items() if key not in listed and entry.stamped < started]
        for key in gone:
            self._drop(key)
        self._removed = {key: when for key, when in self._removed.items() if when >= started}
        return len(gone)
