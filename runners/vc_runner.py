"""The Chatterbox voice-conversion model as a BentoML service: sources tokenized with adaptive batching, then S3Gen rendering per job."""

from __future__ import annotations

import bentoml

from models.jobs import DecodeResult, JobResult, RunnerInfo, VCJob, VCRenderJob
from runners.common import BATCH_CONFIG, RUNNER_SERVICE_CONFIG, RenderQueue, arm_drain, forget_voices, reference_reader, runner_info, settings


@bentoml.service(name="chatterbox-vc-runner", **RUNNER_SERVICE_CONFIG)
class VCRunner:
    def __init__(self) -> None:
        from models.loader import load_vc  # here, not at import: the API service imports this module too
        from models.vc_engine import VCEngine

        self.loaded = load_vc(settings.model)
        self.engine = VCEngine(self.loaded.model, settings.tts, reference_reader())
        self.drain = arm_drain()
        self.renders = RenderQueue(self.drain)

    @bentoml.api(**BATCH_CONFIG)
    def tokenize(self, jobs: list[VCJob]) -> list[DecodeResult]:
        """Every source of the batch read into speech tokens in one padded pass."""
        with self.drain.working():
            return self.engine.tokenize_batch(jobs)

    @bentoml.api
    async def render(self, jobs: list[VCRenderJob]) -> list[JobResult]:
        """S3Gen in the job's target voice, called with one job (see `RenderQueue`)."""
        return await self.renders.run(self.engine.render, jobs)

    @bentoml.api
    def info(self) -> RunnerInfo:
        return runner_info(self.loaded, self.engine)

    @bentoml.api
    def forget(self, content_hashes: list[str]) -> int:
        """Evict deleted or replaced voices from the conditioning cache."""
        return forget_voices(self.engine, content_hashes)
