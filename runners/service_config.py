"""How every runner is served: settings read at import (BentoML fixes batch sizes when the
class is defined), the BentoML service options, and quiet progress bars."""

from __future__ import annotations

import os

from config import get_settings
from config.logs import configure_logging

os.environ.setdefault("TQDM_DISABLE", "1")  # T3's per-token tqdm bar would flood the logs

settings = get_settings()
configure_logging(settings.logging.level)

RUNNER_SERVICE_CONFIG = {
    "resources": {"gpu": 1},
    "workers": settings.runner.workers,
    # threads for the sync APIs: `info` (health) and `forget` answer while a batch generates;
    # generation itself is serialised by the engine's lock
    "threads": 4,
    "traffic": {"timeout": 3600},
    # BentoML's client (the API service's `bentoml.depends` proxy) replaces its HTTP session
    # after 100 calls or 300 s and closes the old one with every call still in flight on it,
    # which failed queued generations with 503 under sustained load. Never recycle: the
    # runners live in the same Bento as the API, so there is no pinned connection to rebalance.
    "runner_connection": {"max_requests": 2**31 - 1, "max_age": float(10**9)},
}
# batching off (`runner.batching: false`): a plain API, each call one job run by itself; the
# unbatched baseline that benchmarks/batching_load.py compares against
BATCH_CONFIG = (
    {"batchable": True, "max_batch_size": settings.runner.max_batch_size, "max_latency_ms": settings.runner.max_latency_ms}
    if settings.runner.batching
    else {}
)
