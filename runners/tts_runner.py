"""The Chatterbox TTS models as BentoML services, one per model: T3 decoding with adaptive
batching, then S3Gen rendering per job.

One service (one process) per model, so that one GPU box can hold every enabled model and a
cluster can give each its own replicas and GPUs (`docs/models.md`, "Runners"); requests for
different models never share a T3 pass. The API service depends only on the enabled ones.
"""

from __future__ import annotations

import bentoml

from config.settings import ModelName
from models.jobs import DecodeResult, JobResult, RenderJob, RunnerInfo, TTSJob
from runners.common import BATCH_CONFIG, RUNNER_SERVICE_CONFIG, RenderQueue, arm_drain, forget_voices, reference_reader, runner_info, settings


class _TTSModelRunner:
    model_name: ModelName

    def __init__(self) -> None:
        from models.loader import load_tts  # here, not at import: the API service imports this module too
        from models.tts_engine import TTSEngine

        self.loaded = load_tts(settings.model, self.model_name)
        self.drain = arm_drain()
        self.engine = TTSEngine(self.loaded, settings.tts, reference_reader(), self.drain.expired)
        self.renders = RenderQueue(self.drain)

    @bentoml.api(**BATCH_CONFIG)
    def decode(self, jobs: list[TTSJob]) -> list[DecodeResult]:
        """Speech tokens for every job of the batch, decoded together by T3
        (`models/t3_batch.py`); each job keeps its own voice, parameters and seed."""
        with self.drain.working():
            return self.engine.decode_batch(jobs)

    @bentoml.api
    async def render(self, jobs: list[RenderJob]) -> list[JobResult]:
        """S3Gen, called with one job (see `RenderQueue`)."""
        return await self.renders.run(self.engine.render, jobs)

    @bentoml.api
    def info(self) -> RunnerInfo:
        return runner_info(self.loaded, self.engine)

    @bentoml.api
    def forget(self, content_hashes: list[str]) -> int:
        """Evict deleted or replaced voices from the conditioning cache."""
        return forget_voices(self.engine, content_hashes)


@bentoml.service(name="chatterbox-tts-runner", **RUNNER_SERVICE_CONFIG)
class TTSRunner(_TTSModelRunner):
    """The original Chatterbox."""

    model_name: ModelName = "original"


@bentoml.service(name="chatterbox-multilingual-runner", **RUNNER_SERVICE_CONFIG)
class MultilingualRunner(_TTSModelRunner):
    model_name: ModelName = "multilingual"


@bentoml.service(name="chatterbox-turbo-runner", **RUNNER_SERVICE_CONFIG)
class TurboRunner(_TTSModelRunner):
    model_name: ModelName = "turbo"



TTS_RUNNERS: dict[ModelName, type] = {"original": TTSRunner, "multilingual": MultilingualRunner, "turbo": TurboRunner}  # by model: their services' names
