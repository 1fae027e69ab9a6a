"""Voices in storage: the uploaded file, a normalised 24 kHz mono WAV used for conditioning,
and the JSON record (`VoiceMetadata`).

Audio lives under ``voices/<casefolded name>/`` and the record at
``voice-records/<casefolded name>.json``, so names are unique regardless of case while the
record keeps the spelling the user chose, and listing every record (the index's start-up and
re-sync) pages through one object per voice, not three. Audio files are named by content and
the record names them, so writing the record is the one atomic switch between versions, and
every record write is conditional on the version that was read: two replicas (or two
requests) that race on one voice never silently drop each other's change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel

from audio.decoding import decode
from contract.voice_layout import RECORDS_PREFIX, SNAPSHOT_KEY, audio_keys, is_record_key, record_key
from storage.base import ObjectInfo, ObjectNotFoundError, PreconditionFailedError, Storage
from storage.bulk import read_many, read_snapshot, write_snapshot
from storage.retries import retry_conflicts
from voices.metadata import VoiceMetadata

logger = logging.getLogger(__name__)


class VoiceExistsError(RuntimeError):
    """Another voice already has this name (ignoring case)."""


class StoredVoice(NamedTuple):
    metadata: VoiceMetadata
    version: str  # the storage version of the record, for conditional writes


class _SnapshotEntry(BaseModel):
    version: str
    record: VoiceMetadata


class _Snapshot(BaseModel):
    format_version: int = 1
    voices: list[_SnapshotEntry]


def _encode(metadata: VoiceMetadata) -> bytes:
    return metadata.model_dump_json(indent=2).encode()


def _audio_of(metadata: VoiceMetadata) -> set[str]:
    return {metadata.original_key, metadata.reference_key}


class VoiceStore:
    def __init__(self, storage: Storage, read_workers: int = 16) -> None:
        self.storage = storage
        self.read_workers = read_workers

    def read(self, name: str) -> StoredVoice:
        """ObjectNotFoundError when there is no such voice."""
        data, version = self.storage.get_versioned(record_key(name))
        return StoredVoice(VoiceMetadata.model_validate_json(data), version)

    def reference_samples(self, metadata: VoiceMetadata) -> np.ndarray:
        """Mono float32 at REFERENCE_SAMPLE_RATE; ObjectNotFoundError if the record is stale."""
        return decode(self.storage.get(metadata.reference_key)).samples

    def write(self, metadata: VoiceMetadata, original: bytes, reference_wav: bytes, replacing: StoredVoice | None) -> StoredVoice:
        """Store a voice with its audio. `replacing` None creates (VoiceExistsError if the
        name is taken meanwhile); otherwise the record must still be at `replacing.version`
        (PreconditionFailedError if it changed). A failed write leaves the old voice intact
        and nothing new behind (its audio keys are its own, so removing them never touches
        the winner's); a successful overwrite removes the old record's audio."""
        new_keys = _audio_of(metadata)
        old_keys = _audio_of(replacing.metadata) if replacing else set()
        try:
            self.storage.put(metadata.original_key, original)
            self.storage.put(metadata.reference_key, reference_wav, "audio/wav")
            version = self.storage.put_if(record_key(metadata.name), _encode(metadata), replacing.version if replacing else None, "application/json")
        except BaseException as exc:
            for key in new_keys - old_keys:
                self.storage.delete(key)
            if isinstance(exc, PreconditionFailedError) and replacing is None:
                raise VoiceExistsError(metadata.name) from None
            raise
        for key in old_keys - new_keys:
            self.storage.delete(key)
        return StoredVoice(metadata, version)

    def update(self, name: str, change: Callable[[VoiceMetadata], VoiceMetadata]) -> StoredVoice:
        """Read-modify-write of the record, retried when someone wrote in between, so no
        update is lost. `change` runs on the freshest record each time and may raise to
        abort (a stale If-Match, for example)."""

        def attempt() -> StoredVoice:
            current = self.read(name)
            updated = change(current.metadata)
            return StoredVoice(updated, self.storage.put_if(record_key(name), _encode(updated), current.version, "application/json"))

        return retry_conflicts(f"voice {name!r}", attempt)

    def rename(self, current: StoredVoice, renamed: VoiceMetadata) -> StoredVoice:
        """Move a voice to a new name (a new storage folder): copy its audio, claim the new
        name atomically (VoiceExistsError if taken), then remove the old record only if it is
        still the version that was copied. If someone changed or removed the old voice
        meanwhile, the new one is taken back and PreconditionFailedError raised (the caller
        retries on fresh state), so no concurrent change is dropped or duplicated."""
        original_key, reference_key = audio_keys(renamed.name, renamed.content_hash, renamed.original_key.rsplit(".", 1)[-1])
        renamed = renamed.model_copy(update={"original_key": original_key, "reference_key": reference_key})
        try:
            original, reference = self.storage.get(current.metadata.original_key), self.storage.get(current.metadata.reference_key)
        except ObjectNotFoundError:
            raise PreconditionFailedError(f"voice {current.metadata.name!r} was replaced while being renamed") from None
        stored = self.write(renamed, original, reference, replacing=None)
        try:
            self.storage.delete_if(record_key(current.metadata.name), current.version)
        except (PreconditionFailedError, ObjectNotFoundError):
            self._take_back(stored)
            raise PreconditionFailedError(f"voice {current.metadata.name!r} changed while being renamed") from None
        for key in _audio_of(current.metadata):
            self.storage.delete(key)
        return stored

    def _take_back(self, stored: StoredVoice) -> None:
        """Undo a write nobody else touched since; one someone already changed is theirs now."""
        try:
            self.storage.delete_if(record_key(stored.metadata.name), stored.version)
        except (PreconditionFailedError, ObjectNotFoundError):
            return
        for key in _audio_of(stored.metadata):
            self.storage.delete(key)

    def delete(self, current: StoredVoice) -> None:
        """Remove the record (conditionally, so a concurrent overwrite's audio is found and
        removed too), then the audio it pointed to."""
        latest = current

        def remove_record() -> None:
            nonlocal latest
            try:
                self.storage.delete_if(record_key(latest.metadata.name), latest.version)
            except ObjectNotFoundError:
                return
            except PreconditionFailedError:
                try:
                    latest = self.read(latest.metadata.name)
                except ObjectNotFoundError:
                    return
                raise

        retry_conflicts(f"voice {current.metadata.name!r}", remove_record)
        for key in _audio_of(latest.metadata):
            self.storage.delete(key)

    def list_records(self) -> Iterator[ObjectInfo]:
        return (info for info in self.storage.list_objects(RECORDS_PREFIX) if is_record_key(info.key))

    def read_many(self, keys: Iterable[str]) -> list[StoredVoice]:
        return read_many(self.storage, keys, self.read_workers, lambda data, version: StoredVoice(VoiceMetadata.model_validate_json(data), version))

    def read_snapshot(self) -> dict[str, StoredVoice]:
        """The last index snapshot any replica wrote, by casefolded name ({} if none or
        unreadable). Only a cache: an entry is used only while its version is the one the
        listing shows, so a stale snapshot costs GETs, never correctness."""
        snapshot = read_snapshot(self.storage, SNAPSHOT_KEY, _Snapshot)
        if snapshot is None:
            return {}
        return {entry.record.name.casefold(): StoredVoice(entry.record, entry.version) for entry in snapshot.voices}

    def write_snapshot(self, voices: Iterable[StoredVoice]) -> None:
        """One compressed object with every record and its version, so a cold start reads
        one object plus the records changed since, instead of one GET per voice."""
        snapshot = _Snapshot(voices=[_SnapshotEntry(version=stored.version, record=stored.metadata) for stored in voices])
        write_snapshot(self.storage, SNAPSHOT_KEY, snapshot.model_dump_json().encode())
