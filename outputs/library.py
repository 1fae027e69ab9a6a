"""Outputs as the API service sees them: the rows in the database (`outputs.records`) over
the audio and companions in storage (`outputs.store`), and the retention policy.

A save writes the audio and its companion, then the row: every replica lists the output
from the moment its request ends. A delete removes the audio first and the row last, so an
interruption leaves a row whose audio is gone (the next delete or retention pass finishes
it), never audio that no listing finds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Connection

from config import OutputSettings
from contract.paging import Total
from db import Database
from db.leases import Lease
from lifecycle.periodic import PeriodicTasks, Task
from outputs.query import OutputListQuery
from outputs.records import OutputRecords
from outputs.store import OutputMetadata, OutputStore, is_output_name

logger = logging.getLogger(__name__)

RETENTION_BATCH = 1000  # rows read at a time when retention walks the outputs oldest first


class OutputNotFoundError(LookupError):
    """No output of that name."""


class OutputLibrary:
    def __init__(self, store: OutputStore, database: Database, settings: OutputSettings) -> None:
        self.store = store
        self.database = database
        self.settings = settings
        self.records = OutputRecords()
        self._periodic: PeriodicTasks | None = None
        # one replica at a time runs retention; the lease outlives two checks, so its holder keeps it
        self._retention_lease = Lease(database, "output-retention", 2 * settings.retention_check_seconds)

    def start(self) -> None:
        self._periodic = PeriodicTasks("outputs", [Task("retention", lambda: self.settings.retention_check_seconds, self.retention_turn)])
        self._periodic.start()

    def close(self) -> None:
        if self._periodic is not None:
            self._periodic.stop()

    # --- reads ------------------------------------------------------------------------

    def get(self, filename: str) -> OutputMetadata:
        if not is_output_name(filename):
            raise OutputNotFoundError(filename)
        with self.database.read() as connection:
            metadata = self.records.get(connection, filename)
        if metadata is None:
            raise OutputNotFoundError(filename)
        return metadata

    def list(self, query: OutputListQuery) -> tuple[list[OutputMetadata], Total, list[str]]:
        """The page, the total matching, and (for a lookup by `names`) the names that are no output."""
        with self.database.read() as connection:
            page, total = self.records.page(connection, query)
            missing = self._found(connection, query.names)[1] if query.names else []
        return page, total, missing

    def lookup(self, names: list[str]) -> tuple[list[OutputMetadata], list[str]]:
        """The outputs among `names`, in the order given, and the names that are none."""
        with self.database.read() as connection:
            return self._found(connection, names)

    def _found(self, connection: Connection, names: list[str]) -> tuple[list[OutputMetadata], list[str]]:
        wanted = list(dict.fromkeys(names))
        found = self.records.get_many(connection, [name for name in wanted if is_output_name(name)])
        return [found[name] for name in wanted if name in found], [name for name in wanted if name not in found]


    # --- writes -----------------------------------------------------------------------

    def save(self, audio: bytes | Path, metadata: OutputMetadata) -> None:
        if isinstance(audio, Path):
            self.store.save_file(audio, metadata)
        else:
            self.store.save(audio, metadata)
        try:
            with self.database.write() as connection:
                self.records.insert(connection, [metadata])
        except BaseException:
            self.store.delete(metadata.filename)
            raise

    def delete(self, filename: str) -> OutputMetadata:
        metadata = self.get(filename)
        self.store.delete(filename)
        with self.database.write() as connection:
            self.records.remove(connection, filename)
        return metadata

    # --- retention --------------------------------------------------------------------

    def enforce_retention(self, now: datetime | None = None) -> list[str]:
        """Delete outputs older than `max_age_days`, then the oldest while the total exceeds
        `max_total_bytes`; returns the deleted file names."""
        settings = self.settings
        if settings.max_age_days <= 0 and settings.max_total_bytes <= 0:
            return []
        now = now or datetime.now(timezone.utc)
        cutoff = (now - timedelta(days=settings.max_age_days)).timestamp() if settings.max_age_days > 0 else None
        doomed: list[str] = []
        with self.database.read() as connection:
            total = self.records.total_bytes(connection)
            for filename, created, size in self.records.oldest_first(connection, RETENTION_BATCH):
                too_old = cutoff is not None and created < cutoff
                too_much = 0 < settings.max_total_bytes < total
                if not (too_old or too_much):
                    break
                doomed.append(filename)
                total -= size
        for filename in doomed:
            try:
                self.delete(filename)
            except OutputNotFoundError:
                continue  # deleted by a user meanwhile
        if doomed:
            logger.info("retention deleted outputs", extra={"deleted": len(doomed), "bytes_kept": total})
        return doomed

    def retention_turn(self) -> list[str] | None:
        """Retention, when this replica holds the lease (None when another one does)."""
        if self.settings.max_age_days <= 0 and self.settings.max_total_bytes <= 0:
            return []
        return self.enforce_retention() if self._retention_lease.acquire() else None
