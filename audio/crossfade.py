"""Joining clips with an equal-power crossfade, so loudness does not dip at the seam."""

from __future__ import annotations

import numpy as np


def crossfade_join(clips: list[np.ndarray], sample_rate: int, crossfade_ms: int) -> np.ndarray:
    """Concatenate mono clips, overlapping each seam by `crossfade_ms` (shortened when a
    clip is shorter than the fade)."""
    if not clips:
        return np.zeros(0, dtype=np.float32)
    joined = clips[0].astype(np.float32)
    for clip in clips[1:]:
        overlap = min(int(sample_rate * crossfade_ms / 1000), len(joined), len(clip))
        if overlap == 0:
            joined = np.concatenate([joined, clip])
            continue
        phase = np.linspace(0.0, np.pi / 2, overlap, dtype=np.float32)
        seam = joined[-overlap:] * np.cos(phase) + clip[:overlap] * np.sin(phase)
        joined = np.concatenate([joined[:-overlap], seam, clip[overlap:]])
    return joined.astype(np.float32)
