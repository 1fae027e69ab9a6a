"""Compiles librosa's numba kernels once, where every later process finds them.

librosa compiles a dozen numba kernels the first time its audio functions are touched
(`resample`, `time_stretch`), about 35 s of CPU, and caches them beside its modules. In a
fresh virtual environment every process that gets there first pays it: the API and each
runner on their first request, the test process in its first speed test. `make` runs this
once after installing the locks, so none of them does.
"""

from __future__ import annotations

import logging
import time

import librosa
import numpy as np

logger = logging.getLogger(__name__)


def main() -> None:
    started = time.perf_counter()
    samples = np.zeros(24_000, dtype=np.float32)
    librosa.resample(samples, orig_sr=24_000, target_sr=16_000)
    librosa.effects.time_stretch(samples, rate=1.5)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("librosa's numba kernels compiled and cached in %.1f s", time.perf_counter() - started)


if __name__ == "__main__":
    main()
