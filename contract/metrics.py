"""Prometheus metrics of the model runners and the API, served on BentoML's `/metrics`.

`bentoml serve` runs every service in its own process and aggregates them through
prometheus_client's multiprocess mode, which it switches on by setting
`PROMETHEUS_MULTIPROC_DIR` while a worker starts: after our modules are imported. So the
metrics are made on first use (in a request), never at import.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

ModelKind = Literal["tts", "vc", "api"]

# requests (text chunks) in a T3 step: how full the loop is
DECODE_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


@dataclass(frozen=True)
class Metrics:
    cache_lookups: Any  # Counter{model, result=hit|miss}
    stage_seconds: Any  # Counter{model, stage}: where the time goes
    decode_batch_chunks: Any  # Histogram: chunks decoded together in a T3 step
    loop_joins: Any  # Counter: requests admitted into a T3 loop already decoding others
    loop_cancellations: Any  # Counter: requests taken out of a T3 loop or its queue (caller gone)


@cache
def metrics() -> Metrics:
    from prometheus_client import Counter, Histogram  # deferred: see the module docstring

    return Metrics(
        cache_lookups=Counter(
            "chatterbox_conditioning_cache_lookups",
            "Voice-conditioning cache lookups by result (hit rate = hit / (hit + miss)).",
            ["model", "result"],
        ),
        stage_seconds=Counter(
            "chatterbox_stage_seconds",
            "Seconds spent in each generation stage (conditioning, t3, s3gen, tokenize, watermark, speed, encode).",
            ["model", "stage"],
        ),
        decode_batch_chunks=Histogram(
            "chatterbox_t3_decode_batch_chunks", "Text chunks decoded together in a T3 step (observed every step).", buckets=DECODE_BATCH_BUCKETS
        ),
        loop_joins=Counter("chatterbox_t3_loop_joins", "Requests admitted into a T3 loop that was already decoding others (continuous batching)."),
        loop_cancellations=Counter("chatterbox_t3_loop_cancellations", "Requests taken out of a T3 loop, or its queue, because their caller hung up."),
    )


def count_cache_lookup(model: ModelKind, hit: bool) -> None:
    metrics().cache_lookups.labels(model=model, result="hit" if hit else "miss").inc()


@contextmanager
def timed_stage(model: ModelKind, stage: str) -> Iterator[None]:
    """Adds the block's wall time to `chatterbox_stage_seconds{model, stage}`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics().stage_seconds.labels(model=model, stage=stage).inc(time.perf_counter() - started)
