"""Helpers that look at returned audio the way a user's player would."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from audio.codec import decode
from tests.conftest import MAX_NEW_TOKENS

SPEECH_TOKENS_PER_SECOND = 25


def max_seconds_for(chunks: int) -> float:
    """The longest audio `chunks` chunks can make: every chunk at its token ceiling."""
    return chunks * MAX_NEW_TOKENS / SPEECH_TOKENS_PER_SECOND + 0.5


def wav_info(data: bytes) -> sf._SoundFileInfo:
    return sf.info(io.BytesIO(data))


def samples_of(data: bytes) -> np.ndarray:
    return decode(data).samples
