"""What the runners share: settings read at import (BentoML fixes batch sizes when the
class is defined), quiet progress bars, the storage voice references are read from, cache
eviction and what a runner reports.

The runner modules import PyTorch and the model package only when a runner starts: the API
service imports them too (for `bentoml.depends`), and never needs the models, which cost
about 15 s of CPU to import."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import psutil

from config import get_settings
from config.logs import configure_logging
from lifecycle.drain import RUNNER_EXTRA_SECONDS, Drain, ShuttingDownError
from models.jobs import JobResult, RunnerInfo
from models.voice_references import ReferenceReader
from storage.factory import create_storage

if TYPE_CHECKING:
    from models.loader import Loaded
    from models.tts_engine import TTSEngine
    from models.vc_engine import VCEngine

os.environ.setdefault("TQDM_DISABLE", "1")  # T3's per-token tqdm bar would flood the logs

logger = logging.getLogger(__name__)
JobT = TypeVar("JobT")
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


def arm_drain() -> Drain:
    """A runner drains a moment longer than the API and stops once idle (`lifecycle.drain`)."""
    drain = Drain(settings.shutdown.drain_seconds + RUNNER_EXTRA_SECONDS)
    drain.install(stop_when_idle=True)
    return drain


class RenderQueue:
    """S3Gen renders, first come first served on one thread of their own: a request waits
    for its own render only (not for every render of the batch it was decoded in), renders
    never hold the threads that `decode`, `info` and `forget` run on, and a render still
    queued when its caller hangs up (the awaiting call is cancelled), or when a shutdown's
    drain ended, is dropped."""

    def __init__(self, drain: Drain) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3gen")
        self._drain = drain

    def _render(self, render: Callable[[JobT], JobResult], job: JobT) -> JobResult:
        if self._drain.expired.is_set():
            raise ShuttingDownError("render dropped: the runner is shutting down")
        return render(job)

    async def run(self, render: Callable[[JobT], JobResult], jobs: list[JobT]) -> list[JobResult]:
        loop = asyncio.get_running_loop()
        with self._drain.working():
            return [await loop.run_in_executor(self._thread, self._render, render, job) for job in jobs]


def reference_reader() -> ReferenceReader:
    """Runners read voice references from the service's own storage (`models.voice_references`)."""
    return ReferenceReader(create_storage(settings.storage))


def forget_voices(engine: TTSEngine | VCEngine, content_hashes: list[str]) -> int:
    """Drop cached conditionals of deleted or replaced voices (keyed by content hash)."""
    doomed = set(content_hashes)
    dropped = engine.cache.evict(lambda key: key in doomed)
    logger.info("voice conditionals forgotten", extra={"voices": len(doomed), "entries": dropped})
    return dropped


def runner_info(loaded: Loaded, engine: TTSEngine | VCEngine) -> RunnerInfo:
    """GPU memory is the model's device's, and only when the model runs on one (a CPU runner
    on a machine with a GPU has none to report)."""
    import torch

    from models.family_speech import performed_tags

    device = torch.device(loaded.device)
    on_gpu = device.type == "cuda"
    return RunnerInfo(
        model=loaded.family.name,
        model_source=loaded.source,
        device=loaded.device,
        model_location=loaded.location,
        has_default_voice=engine.has_default_voice,
        sample_rate=engine.sample_rate,
        conditioning_cache_entries=len(engine.cache),
        conditioning_cache_hits=engine.cache.hits,
        conditioning_cache_misses=engine.cache.misses,
        references_from_storage=engine.references.from_storage,
        references_sent=engine.references.sent,
        tags=performed_tags(loaded.model),
        jobs_done=engine.jobs_done,
        memory_rss_bytes=psutil.Process().memory_info().rss,
        gpu_memory_allocated_bytes=torch.cuda.memory_allocated(device) if on_gpu else None,
        gpu_memory_peak_bytes=torch.cuda.max_memory_allocated(device) if on_gpu else None,
    )
