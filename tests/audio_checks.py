"""Helpers that look at returned audio the way a user's player would."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from audio.decoding import decode
from models.families.base import SPEECH_VOCAB_SIZE

FASTEST_CHARS_PER_SECOND = 26.0  # random mode's speaking rate stays within these (4 sigma of its spread)
SLOWEST_CHARS_PER_SECOND = 7.5
SHORTEST_UTTERANCE_SECONDS = 0.4


def plausible_seconds(chunks: list[str]) -> tuple[float, float]:
    """The shortest and longest audio random weights may make for these chunks of text: each
    said at a human speaking rate (at least 0.4 s), crossfades (30 ms) aside."""
    shortest = sum(max(SHORTEST_UTTERANCE_SECONDS, len(chunk) / FASTEST_CHARS_PER_SECOND) for chunk in chunks) - 0.03 * (len(chunks) - 1)
    longest = sum(max(SHORTEST_UTTERANCE_SECONDS, len(chunk) / SLOWEST_CHARS_PER_SECOND) for chunk in chunks)
    return shortest, longest


def wav_info(data: bytes) -> sf._SoundFileInfo:
    return sf.info(io.BytesIO(data))


def samples_of(data: bytes) -> np.ndarray:
    return decode(data).samples


BATCHED_RENDER_STEPS = 2  # 16-bit steps a render batched with others may land from the same render alone


def same_audio(one: bytes, other: bytes) -> bool:
    """The same seeded speech, whether or not the runner rendered either in an S3Gen batch
    with others (`runner.render_batch`): a batched render agrees with the render alone to
    float rounding, so a 16-bit sample may land a step away."""
    first, second = samples_of(one), samples_of(other)
    return len(first) == len(second) and bool(np.abs(first - second).max(initial=0.0) <= BATCHED_RENDER_STEPS / 32768)


def voiced(speech_tokens: list[int]) -> int:
    """Speech tokens S3Gen says (25 a second): random weights also sample ids outside its
    vocabulary (about a fifth of them), which the render drops, as it drops the stop token."""
    return sum(token < SPEECH_VOCAB_SIZE for token in speech_tokens)
