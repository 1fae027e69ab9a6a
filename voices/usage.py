"""Counting voice uses without a storage write per request.

Uses are counted in memory the moment a generation succeeds (so this replica's listings and
stats show them at once) and flushed to the voice records every few seconds with a
conditional read-modify-write, so counts from every replica add up exactly and none is lost
to a race. A crash loses at most one flush interval of counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voices.metadata import VoiceMetadata


@dataclass
class PendingUse:
    count: int
    last_used_at: datetime


class UsageRecorder:
    """Not thread-safe on its own: `VoiceLibrary` guards it with its lock."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingUse] = {}

    def record(self, name: str, when: datetime) -> None:
        key = name.casefold()
        if (pending := self._pending.get(key)) is None:
            self._pending[key] = PendingUse(1, when)
        else:
            pending.count += 1
            pending.last_used_at = max(pending.last_used_at, when)

    def snapshot(self) -> dict[str, PendingUse]:
        return {key: PendingUse(p.count, p.last_used_at) for key, p in self._pending.items()}

    def settle(self, name: str, flushed: PendingUse) -> None:
        """Forget what a flush wrote; uses recorded while it ran stay pending."""
        key = name.casefold()
        if (pending := self._pending.get(key)) is None:
            return
        pending.count -= flushed.count
        if pending.count <= 0:
            del self._pending[key]

    def forget(self, name: str) -> PendingUse | None:
        return self._pending.pop(name.casefold(), None)

    def restore(self, name: str, pending: PendingUse) -> None:
        """Carry uses over to a renamed voice."""
        self._pending[name.casefold()] = pending

    def apply(self, metadata: VoiceMetadata) -> VoiceMetadata:
        """The record as it will be once pending uses are flushed."""
        if (pending := self._pending.get(metadata.name.casefold())) is None:
            return metadata
        return add_uses(metadata, pending)


def add_uses(metadata: VoiceMetadata, uses: PendingUse) -> VoiceMetadata:
    last = max(filter(None, [metadata.last_used_at, uses.last_used_at]))
    return metadata.model_copy(update={"usage_count": metadata.usage_count + uses.count, "last_used_at": last})
