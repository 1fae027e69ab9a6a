"""Counting voice uses: in the database at once, in the records in storage soon after.

A use is one atomic UPDATE (`usage_count = usage_count + 1`), so counts from every replica
add up exactly, and every replica's listings and stats show it at once. The copies of the
records in storage (what `scripts/db.py reindex` rebuilds from) get the new counts every
`voices.usage_flush_seconds`, written under the row's lock so a copy never replaces a newer
edit's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from db import Database, DatabaseUnavailableError
from voices.records import VoiceRecords
from voices.store import VoiceStore

logger = logging.getLogger(__name__)

BATCH = 200  # records whose counts are copied to storage per pass


class VoiceUses:
    def __init__(self, database: Database, records: VoiceRecords, store: VoiceStore) -> None:
        self.database = database
        self.records = records
        self.store = store

    def record(self, name: str) -> None:
        """One more use. Best effort: a generation that succeeded is not failed by the
        database being down, only logged."""
        try:
            with self.database.write() as connection:
                self.records.add_use(connection, name, datetime.now(timezone.utc))
        except DatabaseUnavailableError:
            logger.warning("a voice use was not counted: the database is unavailable", extra={"voice": name})

    def save(self) -> int:
        """Copy changed counts into the records in storage; returns how many were written."""
        with self.database.read() as connection:
            names = self.records.unsaved_uses(connection, BATCH)
        for name in names:
            with self.database.write() as connection:
                stored = self.records.get(connection, name, for_update=True)
                if stored is not None:
                    self.store.put_record(stored.metadata)
                    self.records.uses_saved(connection, name, stored.metadata.usage_count)
        return len(names)
