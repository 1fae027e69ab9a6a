"""Timing model calls the same way in every benchmark: CUDA work is asynchronous, so the
clock is read only once the device has finished."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def device_seconds(run: Callable[[], object], device: str, repeats: int = 1, warm_up: bool = True) -> float:
    """Median wall time of `repeats` calls of `run` (after one untimed call with `warm_up`)."""
    timings = []
    for attempt in range(repeats + int(warm_up)):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        if attempt or not warm_up:
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)
