"""An uploaded recording turned into what a voice record needs: the 24 kHz reference wav,
its content hash (the conditioning cache's key), the original's extension and the facts the
quality verdict is drawn from.

Preparing happens once per upload, before any write; building the record from it is cheap
and runs again for each retry of a write that lost a race.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from audio.analysis import analyse
from audio.decoding import UploadedAudio
from audio.encoding import EncodeSpec, encode
from audio.facts import AudioFacts
from contract.formats import OutputFormat
from contract.voice_layout import REFERENCE_SAMPLE_RATE, audio_keys
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.quality import assess


@dataclass(frozen=True)
class PreparedAudio:
    """An accepted upload with everything its record needs."""

    upload: UploadedAudio
    reference_wav: bytes
    content_hash: str
    extension: str
    facts: AudioFacts

    def metadata(self, name: str, patch: VoiceMetadataPatch, existing: VoiceMetadata | None, now: datetime) -> VoiceMetadata:
        """The record for this audio: a new voice, or `existing` with new audio; then `patch`."""
        original_key, reference_key = audio_keys(name, self.content_hash, self.extension)
        audio_fields = {
            "name": name, "audio": self.facts, "quality": assess(self.facts), "content_hash": self.content_hash,
            "original_filename": self.upload.filename, "original_key": original_key, "reference_key": reference_key,
        }
        if existing is None:
            base = VoiceMetadata(created_at=now, updated_at=now, **audio_fields)
        else:
            base = existing.model_copy(update=audio_fields)
        return patch.apply(base, now)


def prepare(upload: UploadedAudio) -> PreparedAudio:
    """CPU work (encoding, analysis): called in a worker thread."""
    reference_wav = encode(upload.audio.samples, REFERENCE_SAMPLE_RATE, EncodeSpec(format=OutputFormat.wav, sample_rate=REFERENCE_SAMPLE_RATE))
    suffix = PurePosixPath(upload.filename or "").suffix.lstrip(".").lower()
    extension = suffix if suffix.isalnum() and len(suffix) <= 5 else upload.audio.original_format
    return PreparedAudio(upload, reference_wav, hashlib.sha256(reference_wav).hexdigest(), extension, analyse(upload.audio))
