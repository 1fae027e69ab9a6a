"""Uploaded voices: the original file, a normalised 24 kHz mono WAV used for
conditioning, and a JSON record.

Each voice lives under ``voices/<casefolded name>/`` so names are unique regardless of case
while the record keeps the spelling the user chose. Audio files are named by content and
the record names them, so writing the record is the one atomic switch between versions.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel

from audio.codec import decode
from storage.base import Storage

VOICES_PREFIX = "voices/"
VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
VOICE_NAME_RULE = "1-64 characters: letters, digits, '_', '-', '.', starting with a letter or digit, no '..'"
REFERENCE_SAMPLE_RATE = 24_000


class VoiceRecord(BaseModel):
    schema_version: int = 1
    name: str
    created_at: datetime
    content_hash: str  # sha256 of the normalised reference WAV: keys the conditioning cache
    original_filename: str | None
    original_format: str
    original_sample_rate: int
    original_channels: int
    duration_seconds: float
    original_key: str
    reference_key: str


class VoiceAudio(NamedTuple):
    record: VoiceRecord
    samples: np.ndarray  # mono float32 at REFERENCE_SAMPLE_RATE


def is_voice_name(name: str) -> bool:
    return bool(VOICE_NAME.match(name)) and ".." not in name


def _folder(name: str) -> str:
    return f"{VOICES_PREFIX}{name.casefold()}/"


def audio_keys(name: str, content_hash: str, original_extension: str) -> tuple[str, str]:
    """(original, reference) keys, named by content so a new upload never overwrites the
    files the current record points to."""
    folder = _folder(name)
    return f"{folder}original-{content_hash[:16]}.{original_extension}", f"{folder}reference-{content_hash[:16]}.wav"


class VoiceStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def exists(self, name: str) -> bool:
        return self.storage.exists(_folder(name) + "voice.json")

    def record(self, name: str) -> VoiceRecord:
        """ObjectNotFoundError when there is no such voice."""
        return VoiceRecord.model_validate_json(self.storage.get(_folder(name) + "voice.json"))

    def load(self, name: str) -> VoiceAudio:
        record = self.record(name)
        return VoiceAudio(record, decode(self.storage.get(record.reference_key)).samples)

    def save(self, record: VoiceRecord, original: bytes, reference_wav: bytes) -> None:
        """An overwrite that fails leaves the old voice intact; a new upload that fails
        leaves nothing; a successful overwrite removes the files only the old record used."""
        previous = self.record(record.name) if self.exists(record.name) else None
        old_keys = {previous.original_key, previous.reference_key} if previous else set()
        new_keys = {record.original_key, record.reference_key}
        try:
            self.storage.put(record.original_key, original)
            self.storage.put(record.reference_key, reference_wav, "audio/wav")
            self.storage.put(_folder(record.name) + "voice.json", record.model_dump_json(indent=2).encode(), "application/json")
        except BaseException:
            for key in new_keys - old_keys:
                self.storage.delete(key)
            raise
        for key in old_keys - new_keys:
            self.storage.delete(key)
