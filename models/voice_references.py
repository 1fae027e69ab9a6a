"""Where a runner gets a voice's reference audio on a conditioning-cache miss.

Jobs name their voice by content hash (and, for a library voice, the storage key of its
24 kHz reference), so the common case, a cached voice, moves no audio at all. On a miss
the runner reads the reference from the shared storage itself; the API sends the audio
only for a voice that is not stored (predefined files, one-off uploads) or when the read
fails, and the runner checks that what it read is the voice the job named.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import numpy as np

from audio.decoding import AudioDecodeError, decode
from contract.runner_jobs import ReferenceNeededError, VoiceReference, conditioning_samples
from contract.voice_layout import REFERENCE_SAMPLE_RATE, is_reference_key
from storage.base import ObjectNotFoundError, Storage, StorageError

logger = logging.getLogger(__name__)


class ReferenceReader:
    """A voice's 24 kHz reference samples: sent with the job, else read from storage.
    Counts both for /health, so a deployment can see that references stay off the wire."""

    def __init__(self, storage: Storage | None) -> None:
        self.storage = storage  # None: nothing to read from (a runner used without a store)
        self.from_storage = 0
        self.sent = 0
        self._lock = threading.Lock()

    def samples(self, voice: VoiceReference) -> np.ndarray:
        if voice.audio is not None:
            with self._lock:
                self.sent += 1
            return conditioning_samples(voice.audio.to_array())
        samples = self._read(voice)
        with self._lock:
            self.from_storage += 1
        return samples

    def _read(self, voice: VoiceReference) -> np.ndarray:
        key = voice.reference_key
        if self.storage is None or key is None or not is_reference_key(key):
            raise ReferenceNeededError("the runner cannot read this voice's reference; send it with the job")
        try:
            data = self.storage.get(key)
        except ObjectNotFoundError:
            raise ReferenceNeededError(f"voice reference {key} is gone (the voice was replaced or deleted)") from None
        except StorageError as exc:
            logger.warning("voice reference unreadable; asking for it", extra={"key": key, "error": str(exc)[:300]})
            raise ReferenceNeededError(f"voice reference {key} could not be read") from None
        if hashlib.sha256(data).hexdigest() != voice.content_hash:
            raise ReferenceNeededError(f"voice reference {key} does not hold the voice the job named")
        try:
            return conditioning_samples(decode(data, REFERENCE_SAMPLE_RATE).samples)
        except AudioDecodeError as exc:
            raise ReferenceNeededError(f"voice reference {key} could not be decoded: {exc}") from None
