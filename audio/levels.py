"""Levelling a segment: to a peak, an RMS level, or an integrated loudness (ITU-R BS.1770 /
EBU R128, measured by pyloudnorm). Digital silence and clips too short to measure are left
as they are rather than amplified without bound."""

from __future__ import annotations

import math

import numpy as np

from contract.parameters import Normalization

_SILENT = 1e-6  # linear amplitude: quieter than this is silence (-120 dBFS)


def _db_to_gain(db: float) -> float:
    return 10 ** (db / 20)


def measure(samples: np.ndarray, sample_rate: int, mode: Normalization) -> float | None:
    """The segment's level in the unit of `mode` (dBFS or LUFS); None when unmeasurable."""
    if mode == "peak":
        peak = float(np.abs(samples).max(initial=0.0))
        return 20 * math.log10(peak) if peak > _SILENT else None
    if mode == "rms":
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
        return 20 * math.log10(rms) if rms > _SILENT else None
    if mode == "loudness":
        return integrated_loudness(samples, sample_rate)
    return None


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """LUFS (ITU-R BS.1770); None when too short for one 400 ms gating block, or silent."""
    import pyloudnorm  # here, not at the top: it imports scipy.signal (about 1 s), which a starting API replica must not wait for

    try:
        value = pyloudnorm.Meter(sample_rate).integrated_loudness(samples.astype(np.float64))
    except ValueError:
        return None
    return float(value) if math.isfinite(value) else None


def normalize(samples: np.ndarray, sample_rate: int, mode: Normalization, target: float) -> tuple[np.ndarray, float | None]:
    """The samples at the target level, and the gain applied in dB (None: left unchanged)."""
    if mode == "none":
        return samples, None
    level = measure(samples, sample_rate, mode)
    if level is None:
        return samples, None
    gain_db = target - level
    return (samples * _db_to_gain(gain_db)).astype(np.float32), round(gain_db, 2)
