"""The voice library as the API service sees it: the rows in the database (`voices.records`)
over the audio and record copies in storage (`voices.store`).

Every read is a query, so every replica sees a voice the moment another one wrote it.
Every write puts its new audio first, then in one database transaction changes the row
(conditionally on the version it read) and writes the record's copy to storage; only after
the commit is the replaced audio removed. A write that fails or loses a race leaves the
old voice intact and removes the audio it put; a loser retries from a fresh read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TypeVar

import numpy as np
from sqlalchemy import Connection

from config import VoiceSettings
from contract.paging import Total
from db import Database, DatabaseUnavailableError
from lifecycle.periodic import PeriodicTasks, Task
from storage.base import ObjectNotFoundError, PreconditionFailedError, StorageError
from storage.retries import retry_conflicts
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.query import FolderNode, VoiceFilter, VoiceListQuery, VoiceStats, folder_tree
from voices.records import StoredVoice, VoiceExistsError, VoiceRecords
from voices.store import VoiceStore, audio_of
from voices.usage import VoiceUses

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_ATTEMPTS = 8


class VoiceNotFoundError(LookupError):
    """No voice of that name (ignoring case)."""


class StaleVoiceError(RuntimeError):
    """If-Match named another version of the voice than the current one."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class VoiceLibrary:
    def __init__(self, store: VoiceStore, database: Database, settings: VoiceSettings) -> None:
        self.store = store
        self.database = database
        self.settings = settings
        self.records = VoiceRecords()
        self.uses = VoiceUses(database, self.records, store)
        self._periodic: PeriodicTasks | None = None

    def start(self) -> None:
        self._periodic = PeriodicTasks("voice-library", [Task("usage", lambda: self.settings.usage_flush_seconds, self.uses.save)])
        self._periodic.start()

    def close(self) -> None:
        if self._periodic is not None:
            self._periodic.stop()
        try:
            self.uses.save()
        except (DatabaseUnavailableError, StorageError):
            logger.exception("could not copy the last use counts to storage")

    # --- reads ------------------------------------------------------------------------

    def _stored(self, name: str) -> StoredVoice:
        with self.database.read() as connection:
            stored = self.records.get(connection, name)
        if stored is None:
            raise VoiceNotFoundError(name)
        return stored

    def get(self, name: str) -> VoiceMetadata:
        return self._stored(name).metadata

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except VoiceNotFoundError:
            return False
        return True

    def _with_current_record(self, name: str, read: Callable[[VoiceMetadata], T]) -> tuple[VoiceMetadata, T]:
        """`read` of the voice's record; when its audio is gone (another writer replaced the
        voice between the query and the read), of the record read again."""
        metadata = self.get(name)
        try:
            return metadata, read(metadata)
        except ObjectNotFoundError:
            metadata = self.get(name)
            return metadata, read(metadata)

    def reference(self, name: str) -> tuple[VoiceMetadata, np.ndarray]:
        """The voice and its 24 kHz reference samples."""
        return self._with_current_record(name, self.store.reference_samples)

    def audio(self, name: str, variant: str) -> tuple[VoiceMetadata, str, bytes]:
        """The record, the key and the bytes of its `original` or `reference` audio."""

        def key_of(metadata: VoiceMetadata) -> str:
            return metadata.original_key if variant == "original" else metadata.reference_key

        metadata, data = self._with_current_record(name, lambda metadata: self.store.storage.get(key_of(metadata)))
        return metadata, key_of(metadata), data

    def select(self, voice_filter: VoiceFilter) -> list[VoiceMetadata]:
        """Every voice the filter matches, by name (bulk delete, export, the OpenAI voice list)."""
        with self.database.read() as connection:
            return self.records.select(connection, voice_filter)

    def page(self, query: VoiceListQuery) -> tuple[list[VoiceMetadata], Total]:
        with self.database.read() as connection:
            return self.records.page(connection, query)

    def folders(self) -> FolderNode:
        with self.database.read() as connection:
            return folder_tree(self.records.folder_counts(connection))

    def stats(self, limit: int) -> VoiceStats:
        with self.database.read() as connection:
            return self.records.stats(connection, limit)


    # --- writes -----------------------------------------------------------------------

    def _commit(self, write: Callable[[Connection], T], put_audio: list[VoiceMetadata]) -> T:
        """`write` in a transaction; the audio of `put_audio` records removed if it fails."""
        try:
            with self.database.write() as connection:
                return write(connection)
        except BaseException:
            for metadata in put_audio:
                self.store.remove_audio(audio_of(metadata))
            raise

    def _write_row(self, connection: Connection, metadata: VoiceMetadata, existing: StoredVoice | None) -> StoredVoice:
        stored = self.records.replace(connection, metadata, existing.version) if existing else self.records.insert(connection, metadata)
        self.store.put_record(metadata)
        return stored

    def save(
        self, name: str, build: Callable[[VoiceMetadata | None], VoiceMetadata], original: bytes, reference_wav: bytes, *, overwrite: bool
    ) -> tuple[VoiceMetadata, VoiceMetadata | None]:
        """Create the voice, or replace it when `overwrite`; `build` makes the new record from
        the current one (None when creating). Returns the new record and the replaced one."""

        def attempt() -> tuple[StoredVoice, StoredVoice | None]:
            try:
                existing: StoredVoice | None = self._stored(name)
            except VoiceNotFoundError:
                existing = None
            if existing is not None and not overwrite:
                raise VoiceExistsError(existing.metadata.name)
            metadata = build(existing.metadata if existing else None)
            self.store.put_audio(metadata, original, reference_wav)
            try:
                return self._commit(lambda connection: self._write_row(connection, metadata, existing), [metadata]), existing
            except VoiceExistsError:
                if not overwrite:
                    raise
                raise PreconditionFailedError(f"voice {name!r} was created meanwhile") from None  # build again on theirs

        stored, existing = retry_conflicts(f"voice {name!r}", attempt, WRITE_ATTEMPTS)
        if existing is not None:
            self.store.remove_audio(audio_of(existing.metadata) - audio_of(stored.metadata))
        return stored.metadata, existing.metadata if existing else None

    def update(self, name: str, patch: VoiceMetadataPatch, if_match: str | None) -> VoiceMetadata:
        """Apply a partial update atomically; `if_match` (an ETag) makes it conditional."""
        now = utcnow()

        def attempt() -> VoiceMetadata:
            current = self._stored(name)
            if if_match is not None and if_match not in ("*", current.metadata.etag, "W/" + current.metadata.etag):
                raise StaleVoiceError(f"voice {current.metadata.name!r} changed: its ETag is {current.metadata.etag}, not {if_match}")
            changed = patch.apply(current.metadata, now)
            if changed.name.casefold() != current.metadata.name.casefold():
                return self._rename(current, changed)
            return self._commit(lambda connection: self._write_row(connection, changed, current), []).metadata

        return retry_conflicts(f"voice {name!r}", attempt, WRITE_ATTEMPTS)

    def _rename(self, current: StoredVoice, renamed: VoiceMetadata) -> VoiceMetadata:
        """The voice moved to a new name (a new storage folder) in one transaction: the new
        row inserted (VoiceExistsError if the name is taken), the old one removed only if it
        is still the version read, with the use counts it has then."""
        try:
            renamed = self.store.copy_audio(current.metadata, renamed)
        except ObjectNotFoundError:
            raise PreconditionFailedError(f"voice {current.metadata.name!r} was replaced while being renamed") from None

        def move(connection: Connection) -> VoiceMetadata:
            old = self.records.remove(connection, current.metadata.name, current.version)
            if old is None:
                raise PreconditionFailedError(f"voice {current.metadata.name!r} changed while being renamed")
            moved = renamed.model_copy(update={"usage_count": old.usage_count, "last_used_at": old.last_used_at})
            self.records.insert(connection, moved)
            self.store.put_record(moved)
            self.store.remove_record(current.metadata.name)
            return moved

        moved = self._commit(move, [renamed])
        self.store.remove_audio(audio_of(current.metadata))
        return moved

    def delete(self, name: str) -> VoiceMetadata:
        def remove(connection: Connection) -> VoiceMetadata:
            removed = self.records.remove(connection, name)
            if removed is None:
                raise VoiceNotFoundError(name)
            self.store.remove_record(name)
            return removed

        removed = self._commit(remove, [])
        self.store.remove_audio(audio_of(removed))
        return removed
