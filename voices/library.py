"""The voice library as the API service sees it: one object over the store, the in-memory
index and the usage counters, with the background work that keeps replicas converging.

Reads come from the index (a miss falls through to storage, so a voice another replica
created a moment ago is found); writes go to storage first, conditionally, and then update
the index, so this replica reads its own writes at once and others within one sync interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TypeVar

import numpy as np

from config import VoiceSettings
from contract.voice_layout import name_of_record_key, record_key
from lifecycle.periodic import TICK_SECONDS, PeriodicTasks, Task
from storage.base import ObjectNotFoundError, PreconditionFailedError, StorageError
from storage.retries import retry_conflicts
from storage.synced_index import SyncedLibrary
from voices.index import IndexEntry, VoiceIndex
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.query import VoiceFilter
from voices.store import StoredVoice, VoiceExistsError, VoiceStore
from voices.usage import UsageRecorder, add_uses

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_ATTEMPTS = 8


class VoiceNotFoundError(LookupError):
    """No voice of that name (ignoring case)."""


class StaleVoiceError(RuntimeError):
    """If-Match named another version of the voice than the current one."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class VoiceLibrary(SyncedLibrary[StoredVoice, IndexEntry]):
    label = "voice index"

    def __init__(self, store: VoiceStore, settings: VoiceSettings) -> None:
        super().__init__(VoiceIndex())
        self._index: VoiceIndex
        self.store = store
        self.settings = settings
        self._usage = UsageRecorder()
        self._periodic: PeriodicTasks | None = None

    # --- keeping the index fresh ------------------------------------------------------

    def _list_versions(self) -> dict[str, str]:
        return {name_of_record_key(info.key): info.version for info in self.store.list_records()}

    def _read_snapshot(self) -> dict[str, StoredVoice]:
        return self.store.read_snapshot()

    def _fetch(self, keys: list[str]) -> list[StoredVoice]:
        return self.store.read_many(record_key(name) for name in keys)

    def _write_snapshot(self, entries: list[IndexEntry]) -> None:
        self.store.write_snapshot(StoredVoice(entry.metadata, entry.version) for entry in entries)

    def flush_usage(self) -> int:
        """Write pending use counts into the records; returns how many voices were written."""
        with self._lock:
            pending = self._usage.snapshot()
        written = 0
        for key, uses in pending.items():
            try:
                stored = self.store.update(key, lambda metadata, uses=uses: add_uses(metadata, uses))
            except ObjectNotFoundError:
                with self._lock:
                    self._usage.forget(key)  # the voice was deleted: its uses go with it
                continue
            except (StorageError, PreconditionFailedError) as exc:
                logger.warning("usage flush failed; will retry", extra={"voice": key, "error": str(exc)[:300]})
                continue
            with self._lock:
                self._usage.settle(key, uses)
                self._index.put(stored)
            written += 1
        return written

    def start(self) -> None:
        """Background upkeep: flush usage and (when configured) re-sync the index. Until the
        first sync succeeds (storage down at start-up) it is retried every tick."""
        settings = self.settings
        self._periodic = PeriodicTasks("voice-library", [
            Task("flush", lambda: settings.usage_flush_seconds, self.flush_usage),
            Task("sync", lambda: settings.index_refresh_seconds if self.loaded else TICK_SECONDS, self.sync),
            Task("snapshot", lambda: settings.snapshot_seconds, self.save_snapshot),
        ])
        self._periodic.start()

    def close(self) -> None:
        if self._periodic is not None:
            self._periodic.stop()
        self.flush_usage()
        if self.settings.snapshot_seconds > 0:
            self.save_snapshot()

    # --- reads ------------------------------------------------------------------------

    def _read(self, name: str) -> StoredVoice:
        try:
            stored = self.store.read(name)
        except ObjectNotFoundError:
            with self._lock:
                self._index.remove(name)
            raise VoiceNotFoundError(name) from None
        with self._lock:
            self._index.put(stored)
        return stored

    def get(self, name: str) -> VoiceMetadata:
        """From the index; a miss asks storage (another replica may have just created it)."""
        with self._lock:
            entry = self._index.get(name)
            if entry is not None:
                return self._usage.apply(entry.metadata)
        metadata = self._read(name).metadata
        with self._lock:
            return self._usage.apply(metadata)

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except VoiceNotFoundError:
            return False
        return True

    def _with_current_record(self, name: str, read: Callable[[VoiceMetadata], T]) -> tuple[VoiceMetadata, T]:
        """`read` of the voice's record as the index has it; when its audio is gone (another
        writer replaced it since the index last saw it), of the record re-read from storage."""
        metadata = self.get(name)
        try:
            return metadata, read(metadata)
        except ObjectNotFoundError:
            metadata = self._read(name).metadata
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
        with self._lock:
            return [self._usage.apply(e.metadata) for e in self._index.entries() if voice_filter.matches(e.metadata, e.search_text)]

    def record_use(self, name: str) -> None:
        with self._lock:
            self._usage.record(name, utcnow())

    # --- writes -----------------------------------------------------------------------

    def save(
        self, name: str, build: Callable[[VoiceMetadata | None], VoiceMetadata], original: bytes, reference_wav: bytes, *, overwrite: bool
    ) -> tuple[VoiceMetadata, VoiceMetadata | None]:
        """Create the voice, or replace it when `overwrite`; `build` makes the new record from
        the current one (None when creating). Returns the new record and the replaced one."""

        def attempt() -> tuple[StoredVoice, StoredVoice | None]:
            try:
                existing: StoredVoice | None = self.store.read(name)
            except ObjectNotFoundError:
                existing = None
            if existing is not None and not overwrite:
                raise VoiceExistsError(existing.metadata.name)
            try:
                return self.store.write(build(existing.metadata if existing else None), original, reference_wav, replacing=existing), existing
            except (PreconditionFailedError, VoiceExistsError):
                if not overwrite and existing is None:
                    raise VoiceExistsError(name) from None
                raise PreconditionFailedError(f"voice {name!r} was written meanwhile") from None  # build again on theirs

        stored, existing = retry_conflicts(f"voice {name!r}", attempt, WRITE_ATTEMPTS)
        with self._lock:
            self._index.put(stored)
            return self._usage.apply(stored.metadata), existing.metadata if existing else None

    def update(self, name: str, patch: VoiceMetadataPatch, if_match: str | None) -> VoiceMetadata:
        """Apply a partial update atomically; `if_match` (an ETag) makes it conditional."""
        now = utcnow()

        def change(current: VoiceMetadata) -> VoiceMetadata:
            if if_match is not None and if_match not in ("*", current.etag, "W/" + current.etag):
                raise StaleVoiceError(f"voice {current.name!r} changed: its ETag is {current.etag}, not {if_match}")
            return patch.apply(current, now)

        if patch.name is not None and patch.name.casefold() != name.casefold():
            stored = self._rename(name, change)
            with self._lock:
                self._index.remove(name)
                self._index.put(stored)
                if (pending := self._usage.forget(name)) is not None:
                    self._usage.restore(stored.metadata.name, pending)
        else:
            try:
                stored = self.store.update(name, change)
            except ObjectNotFoundError:
                raise VoiceNotFoundError(name) from None
            with self._lock:
                self._index.put(stored)
        with self._lock:
            return self._usage.apply(stored.metadata)

    def _rename(self, name: str, change: Callable[[VoiceMetadata], VoiceMetadata]) -> StoredVoice:
        """Retried from a fresh read when the voice changed while it was being moved."""

        def attempt() -> StoredVoice:
            current = self._read(name)
            return self.store.rename(current, change(current.metadata))

        return retry_conflicts(f"voice {name!r}", attempt, WRITE_ATTEMPTS)

    def delete(self, name: str) -> VoiceMetadata:
        current = self._read(name)
        self.store.delete(current)
        with self._lock:
            self._index.remove(name)
            self._usage.forget(name)
        return current.metadata
