"""Voices in storage: the uploaded file, a normalised 24 kHz mono WAV used for conditioning,
and a copy of the record (`VoiceMetadata` as JSON) beside them.

Audio lives under ``voices/<casefolded name>/`` and the record copy at
``voice-records/<casefolded name>.json``. The database (`voices.records`) is what the
service reads and what decides races; the copies in storage are what
`scripts/db.py reindex` rebuilds it from (after a disaster, or from a store written before
the database existed), so they are written in the same transaction as the row. Audio files
are named by content and by a token of their writer, so a new upload never overwrites the
files the current record points to, and removing a failed write's files never touches
anyone else's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from audio.decoding import decode
from contract.voice_layout import RECORDS_PREFIX, audio_keys, is_record_key, record_key
from storage.base import ObjectInfo, Storage
from storage.bulk import read_many
from voices.metadata import VoiceMetadata


def audio_of(metadata: VoiceMetadata) -> set[str]:
    return {metadata.original_key, metadata.reference_key}


class VoiceStore:
    def __init__(self, storage: Storage, read_workers: int = 16) -> None:
        self.storage = storage
        self.read_workers = read_workers

    def reference_samples(self, metadata: VoiceMetadata) -> np.ndarray:
        """Mono float32 at REFERENCE_SAMPLE_RATE; ObjectNotFoundError if the record is stale."""
        return decode(self.storage.get(metadata.reference_key)).samples

    def put_audio(self, metadata: VoiceMetadata, original: bytes, reference_wav: bytes) -> None:
        """The record's two audio files (removed again if the second fails)."""
        self.storage.put(metadata.original_key, original)
        try:
            self.storage.put(metadata.reference_key, reference_wav, "audio/wav")
        except BaseException:
            self.storage.delete(metadata.original_key)
            raise

    def copy_audio(self, current: VoiceMetadata, renamed: VoiceMetadata) -> VoiceMetadata:
        """The voice's audio copied under its new name's folder; the record naming the copies.
        ObjectNotFoundError when the audio is gone (the voice was replaced meanwhile)."""
        original_key, reference_key = audio_keys(renamed.name, renamed.content_hash, renamed.original_key.rsplit(".", 1)[-1])
        renamed = renamed.model_copy(update={"original_key": original_key, "reference_key": reference_key})
        original, reference = self.storage.get(current.original_key), self.storage.get(current.reference_key)
        self.put_audio(renamed, original, reference)
        return renamed

    def remove_audio(self, keys: Iterable[str]) -> None:
        for key in sorted(keys):
            self.storage.delete(key)

    def put_record(self, metadata: VoiceMetadata) -> None:
        self.storage.put(record_key(metadata.name), metadata.model_dump_json(indent=2).encode(), "application/json")

    def remove_record(self, name: str) -> None:
        self.storage.delete(record_key(name))

    def list_records(self) -> Iterator[ObjectInfo]:
        return (info for info in self.storage.list_objects(RECORDS_PREFIX) if is_record_key(info.key))

    def read_records(self, keys: Iterable[str]) -> list[VoiceMetadata]:
        """The record copies at these keys, read in parallel (vanished ones left out)."""
        return read_many(self.storage, keys, self.read_workers, lambda data, _version: VoiceMetadata.model_validate_json(data))
