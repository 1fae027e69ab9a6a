"""Rebuilding the database's voice and output rows from storage: the migration path from a
store written before the database existed, and the way back after losing the database.

Storage keeps a copy of every voice record beside its audio and every output's companion
beside its file, so everything the listings show can be read back. Each table is replaced
in one transaction (every old row deleted, the records inserted in batches): readers see
the old rows until it commits, on PostgreSQL and on SQLite alike. A voice or output
written while it runs, after the listing passed its key, is missing from the result: run it
with writes stopped, or run it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, Table, delete, insert

from db import Database
from db.schema import outputs, voices
from outputs.records import row_values as output_row
from outputs.store import OutputStore
from voices.records import new_row as new_voice_row
from voices.store import VoiceStore

logger = logging.getLogger(__name__)

BATCH = 1000  # records read (in parallel) and inserted per round
T = TypeVar("T")


class ReindexReport(BaseModel):
    voices: int
    outputs: int
    skipped: int  # listed records that could not be read or parsed (logged one by one)
    seconds: float


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _refill(connection: Connection, table: Table, keys: Iterable[str], read: Callable[[list[str]], list[T]], row: Callable[[T], dict]) -> tuple[int, int]:
    """Every row of `table` replaced by the records at `keys`: (rows inserted, keys skipped)."""
    connection.execute(delete(table))
    inserted = skipped = 0
    for batch in _batches(keys, BATCH):
        records = read(batch)
        skipped += len(batch) - len(records)
        if records:
            connection.execute(insert(table), [row(record) for record in records])
            inserted += len(records)
    return inserted, skipped


def reindex(database: Database, voice_store: VoiceStore, output_store: OutputStore) -> ReindexReport:
    started = time.monotonic()
    with database.write() as connection:
        voice_keys = (info.key for info in voice_store.list_records())
        voice_count, voice_skipped = _refill(connection, voices, voice_keys, voice_store.read_records, new_voice_row)
    with database.write() as connection:
        output_count, output_skipped = _refill(connection, outputs, output_store.list_companions(), output_store.read_many, output_row)
    report = ReindexReport(voices=voice_count, outputs=output_count, skipped=voice_skipped + output_skipped, seconds=round(time.monotonic() - started, 3))
    logger.info("database rebuilt from storage", extra=report.model_dump())
    return report
