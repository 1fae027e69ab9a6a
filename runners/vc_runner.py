"""The Chatterbox voice-conversion model as a BentoML service with adaptive batching."""

from __future__ import annotations

import bentoml

from models.jobs import JobResult, RunnerInfo, VCJob
from models.loader import load_vc
from models.vc_engine import VCEngine
from runners.common import BATCH_CONFIG, RUNNER_SERVICE_CONFIG, forget_voices, runner_info, settings


@bentoml.service(name="chatterbox-vc-runner", **RUNNER_SERVICE_CONFIG)
class VCRunner:
    def __init__(self) -> None:
        self.loaded = load_vc(settings.model)
        self.engine = VCEngine(self.loaded.model, settings.tts)

    @bentoml.api(**BATCH_CONFIG)
    def convert(self, jobs: list[VCJob]) -> list[JobResult]:
        """Every source of the batch tokenized in one pass, then each converted to its own target."""
        return self.engine.convert_batch(jobs)

    @bentoml.api
    def info(self) -> RunnerInfo:
        return runner_info(self.loaded, self.engine)

    @bentoml.api
    def forget(self, content_hashes: list[str]) -> int:
        """Evict deleted or replaced voices from the conditioning cache."""
        return forget_voices(self.engine, content_hashes)
