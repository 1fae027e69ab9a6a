"""The audio the tests and benchmarks use, all carried by this repository.

Clips live in `tests/data/` (see its README); a file that is only another encoding of one of
them is made from it on first use instead of being committed (the 44.1 kHz stereo WAV would
be the largest file in the folder).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

TESTDATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _stereo_44k(source: str) -> Callable[[], bytes]:
    """`source` resampled to 44.1 kHz and copied to two channels, as a 16-bit WAV."""

    def make() -> bytes:
        samples, rate = sf.read(TESTDATA / source, dtype="float32")
        resampled = soxr.resample(samples, rate, 44_100)
        buffer = io.BytesIO()
        sf.write(buffer, np.stack([resampled, resampled], axis=1), 44_100, format="WAV", subtype="PCM_16")
        return buffer.getvalue()

    return make


DERIVED: dict[str, Callable[[], bytes]] = {"voice_bella_stereo_44k.wav": _stereo_44k("voice_bella.wav")}


@cache
def read_testdata(name: str) -> bytes:
    """The bytes of test file `name` (committed, or derived from a committed one)."""
    if name in DERIVED:
        return DERIVED[name]()
    return (TESTDATA / name).read_bytes()
