"""The Chatterbox TTS models as BentoML services, one per model family: T3 decoding in one
continuous loop per model, then S3Gen rendering per job, or both streamed in windows.

One service (one process) per model, so that one GPU box can hold every enabled model and a
cluster can give each its own replicas and GPUs (`docs/models.md`, "Runners"); requests for
different models never share a T3 pass. The services are made from the family table
(`contract/families.py`): one class per row, named and served as the row says. The API
service depends only on the enabled ones.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import bentoml

from contract.families import FAMILIES, FamilyFacts, ModelName
from contract.runner_jobs import DecodeResult, JobResult, RenderJob, StreamJob, TTSJob
from contract.stream_frames import frame
from lifecycle.hangups import unless_hung_up
from runners.base import ModelRunner, hung_up
from runners.service_config import RUNNER_SERVICE_CONFIG, settings

if TYPE_CHECKING:
    from models.engine import ModelEngine
    from models.loader import Loaded
    from models.voice_references import ReferenceReader


class TTSModelRunner(ModelRunner):
    model_name: ModelName

    def start(self, references: ReferenceReader) -> tuple[Loaded, ModelEngine[Any]]:
        from models.kv_rows import kv_plan
        from models.loader import load_tts  # here, not at import: the API service imports this module too
        from models.tts_engine import TTSEngine

        loaded = load_tts(settings.model, self.model_name)
        loop_requests = settings.runner.max_batch_size if settings.runner.batching else 1
        kv = kv_plan(settings.model.kv_cache, settings.model.cuda_graphs, loaded.device, settings.tts.max_new_tokens)
        return loaded, TTSEngine(loaded, settings.tts, references, self.drain.expired, loop_requests, kv)

    @bentoml.api
    async def decode(self, jobs: list[TTSJob], ctx: bentoml.Context) -> list[DecodeResult]:
        """Speech tokens for every job, from the model's continuous T3 loop
        (`models/decode_scheduler.py`: jobs join it between steps and leave as they stop);
        each job keeps its own voice, parameters and seed. A caller that hangs up takes its
        jobs out of the loop."""
        with self.drain.working():
            return await unless_hung_up(self.engine.decode(jobs), ctx.request, lambda: [hung_up(DecodeResult) for _ in jobs])  # type: ignore[attr-defined]

    @bentoml.api
    async def render(self, jobs: list[RenderJob], ctx: bentoml.Context) -> list[JobResult]:
        """S3Gen, called with one job (see `RenderQueue`)."""
        return await self.render_jobs(jobs, ctx)

    @bentoml.api
    async def stream(self, job: StreamJob) -> AsyncGenerator[bytes, None]:
        """One chunk decoded and rendered in windows as its tokens arrive, answered frame by
        frame (`contract/stream_frames.py`): audio before the chunk's decoding ends. A caller
        that hangs up ends the stream (Starlette cancels it), which takes the job out of
        the loop and drops its queued windows."""
        from models.chunk_stream import stream_chunk

        with self.drain.working():
            windows = stream_chunk(self.engine, job.job, first=job.first, first_tokens=settings.tts.stream_first_tokens, render_turn=self.renders.run)  # type: ignore[arg-type]
            async for header, samples in windows:
                yield frame(header, samples)


def _runner_service(family: FamilyFacts) -> Any:
    """The runner service of one family: a `TTSModelRunner` for its model, under its service name."""
    runner = type(family.runner_class, (TTSModelRunner,), {"model_name": family.name, "__module__": __name__, "__doc__": f"The {family.name} Chatterbox model."})
    return bentoml.service(name=family.runner_service, **RUNNER_SERVICE_CONFIG)(runner)


TTS_RUNNERS: dict[ModelName, Any] = {name: _runner_service(family) for name, family in FAMILIES.items()}
