"""The Chatterbox voice-conversion model as a BentoML service: sources tokenized with adaptive batching, then S3Gen rendering per job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bentoml

from contract.runner_jobs import DecodeResult, JobResult, VCJob, VCRenderJob
from runners.base import ModelRunner
from runners.service_config import BATCH_CONFIG, RUNNER_SERVICE_CONFIG, settings

if TYPE_CHECKING:
    from models.engine import ModelEngine
    from models.loader import Loaded
    from models.voice_references import ReferenceReader


@bentoml.service(name="chatterbox-vc-runner", **RUNNER_SERVICE_CONFIG)
class VCRunner(ModelRunner):
    def start(self, references: ReferenceReader) -> tuple[Loaded, ModelEngine[Any]]:
        from models.loader import load_vc  # here, not at import: the API service imports this module too
        from models.vc_engine import VCEngine

        loaded = load_vc(settings.model)
        return loaded, VCEngine(loaded.model, settings.tts, references)

    @bentoml.api(**BATCH_CONFIG)
    def tokenize(self, jobs: list[VCJob]) -> list[DecodeResult]:
        """Every source of the batch read into speech tokens in one padded pass."""
        with self.drain.working():
            return self.engine.tokenize_batch(jobs)  # type: ignore[attr-defined]

    @bentoml.api
    async def render(self, jobs: list[VCRenderJob], ctx: bentoml.Context) -> list[JobResult]:
        """S3Gen in the job's target voice, called with one job (see `RenderQueue`)."""
        return await self.render_jobs(jobs, ctx)
