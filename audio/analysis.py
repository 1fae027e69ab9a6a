"""Measuring a recording: loudness, peak, clipping, silence and an SNR estimate.

These are the facts a voice-cloning reference is judged by (see `voices.quality`). They are
computed once, on upload, from the decoded audio; none of them needs a model.
"""

from __future__ import annotations

import math

import numpy as np

from audio.decoding import DecodedAudio
from audio.facts import AudioFacts
from audio.levels import integrated_loudness

FRAME_SECONDS = 0.02
SILENCE_BELOW_PEAK_DB = 40.0  # a frame this far below the loudest frame is silence...
SILENCE_FLOOR_DBFS = -60.0  # ...and so is any frame quieter than this
SNR_CEILING_DB = 100.0  # digital silence between words would make the estimate infinite
_EPSILON = 1e-12


def _frame_power(samples: np.ndarray, frame: int) -> np.ndarray:
    count = max(1, len(samples) // frame)
    frames = samples[: count * frame].reshape(count, frame) if len(samples) >= frame else samples[None, :]
    return (frames.astype(np.float64) ** 2).mean(axis=1)


def _longest_run(mask: np.ndarray) -> int:
    longest = current = 0
    for silent in mask:
        current = current + 1 if silent else 0
        longest = max(longest, current)
    return longest


def analyse(audio: DecodedAudio) -> AudioFacts:
    samples = audio.samples
    frame = max(1, int(audio.sample_rate * FRAME_SECONDS))
    power = _frame_power(samples, frame)
    power_db = 10 * np.log10(power + _EPSILON)
    threshold = max(float(power_db.max()) - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS)
    silent = power_db < threshold
    ordered = np.sort(power)
    noise = ordered[: max(1, len(ordered) // 10)].mean()
    speech = ordered[len(ordered) // 2 :].mean()
    snr = SNR_CEILING_DB if noise <= _EPSILON else min(SNR_CEILING_DB, 10 * math.log10(speech / noise))
    return AudioFacts(
        duration_seconds=round(audio.duration_seconds, 3),
        sample_rate=audio.original_sample_rate,
        channels=audio.original_channels,
        format=audio.original_format,
        loudness_lufs=round(loudness, 2) if (loudness := integrated_loudness(samples, audio.sample_rate)) is not None else None,
        peak_dbfs=round(20 * math.log10(max(audio.original_peak, _EPSILON)), 2),
        clipping_ratio=round(audio.original_clipping_ratio, 6),
        silence_ratio=round(float(silent.mean()), 4),
        longest_silence_seconds=round(_longest_run(silent) * frame / audio.sample_rate, 3),
        snr_db=round(max(0.0, snr), 2),
    )
