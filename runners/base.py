"""What every model runner is besides its first stage: a model loaded when the runner starts,
an engine around it, S3Gen renders on a queue of their own, and the `info` (health) and
`forget` (voice eviction) endpoints.

The runner modules import PyTorch and the model package only when a runner starts: the API
service imports them too (for `bentoml.depends`), and never needs the models, which cost
about 15 s of CPU to import."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import bentoml
import psutil

from contract.runner_jobs import JobResult, OutcomeT, RunnerInfo
from lifecycle.drain import RUNNER_EXTRA_SECONDS, Drain
from lifecycle.hangups import unless_hung_up
from runners.render_queue import Render, RenderQueue
from runners.service_config import settings
from storage.factory import create_storage

if TYPE_CHECKING:
    from models.engine import ModelEngine
    from models.loader import Loaded
    from models.voice_references import ReferenceReader

GPU_RENDER_BATCH = 8  # `runner.render_batch: auto` on a GPU


def render_batch_size(configured: int | str, device: str) -> int:
    """Whole renders in one S3Gen pass: `auto` batches on a GPU (where one render leaves it
    idle) and not on a CPU (where a batch renders no faster than its rows one by one)."""
    if configured != "auto":
        return int(configured)
    return GPU_RENDER_BATCH if device.startswith("cuda") else 1


def hung_up(result_type: type[OutcomeT]) -> OutcomeT:
    """The answer to a caller that is gone (nobody reads it)."""
    return result_type(error="the caller hung up")


class ModelRunner(ABC):
    """A runner service's common half. Subclasses load their model and engine (`start`) and
    declare their two stages as BentoML APIs with their own job types: the first stage (TTS:
    the model's continuous T3 loop; VC: adaptively batched), `render` handing its one job to
    `render_jobs`."""

    loaded: Loaded
    engine: ModelEngine[Any]

    def __init__(self) -> None:
        from models.voice_references import ReferenceReader  # here, not at import: see the module docstring

        self.drain = Drain(settings.shutdown.drain_seconds + RUNNER_EXTRA_SECONDS)  # a moment longer than the API's
        self.drain.install(stop_when_idle=True)
        # runners read voice references from the service's own storage (`models.voice_references`)
        self.loaded, self.engine = self.start(ReferenceReader(create_storage(settings.storage)))
        self.renders = RenderQueue(self.drain, self.engine.render_batch, render_batch_size(settings.runner.render_batch, self.loaded.device))

    @abstractmethod
    def start(self, references: ReferenceReader) -> tuple[Loaded, ModelEngine[Any]]:
        """The model this runner serves and the engine that runs it."""

    async def render_jobs(self, jobs: list[Any], ctx: bentoml.Context) -> list[JobResult]:
        """S3Gen, called with one job (see `RenderQueue`); dropped if still queued when its
        caller hangs up."""
        return await unless_hung_up(self._render_all(jobs), ctx.request, lambda: [hung_up(JobResult) for _ in jobs])

    async def _render_all(self, jobs: list[Any]) -> list[JobResult]:
        return [await self.renders.run(Render(job, len(job.speech_tokens)), job.first) for job in jobs]

    @bentoml.api
    def info(self) -> RunnerInfo:
        """What the runner loaded and how it is doing. GPU memory is the model's device's, and
        only when the model runs on one (a CPU runner on a machine with a GPU has none)."""
        import torch

        device = torch.device(self.loaded.device)
        on_gpu = device.type == "cuda"
        return RunnerInfo(
            model=self.loaded.family.name,
            model_source=self.loaded.source,
            device=self.loaded.device,
            dtype=self.loaded.dtype,
            model_location=self.loaded.location,
            has_default_voice=self.engine.has_default_voice,
            sample_rate=self.engine.sample_rate,
            conditioning_cache_entries=len(self.engine.cache),
            conditioning_cache_hits=self.engine.cache.hits,
            conditioning_cache_misses=self.engine.cache.misses,
            references_from_storage=self.engine.references.from_storage,
            references_sent=self.engine.references.sent,
            tags=self.engine.performed_tags(),
            jobs_done=self.engine.jobs_done,
            decoding_jobs=self.engine.decoding_jobs,
            queued_jobs=self.engine.queued_jobs,
            kv_cache=self.engine.kv_cache,
            cuda_graphs=self.engine.cuda_graphs,
            memory_rss_bytes=psutil.Process().memory_info().rss,
            gpu_memory_allocated_bytes=torch.cuda.memory_allocated(device) if on_gpu else None,
            gpu_memory_peak_bytes=torch.cuda.max_memory_allocated(device) if on_gpu else None,
        )

    @bentoml.api
    def forget(self, content_hashes: list[str]) -> int:
        """Evict deleted or replaced voices from the conditioning cache."""
        return self.engine.forget(content_hashes)
