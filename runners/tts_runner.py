"""The Chatterbox TTS model as a BentoML service with adaptive batching."""

from __future__ import annotations

import bentoml

from models.jobs import JobResult, RunnerInfo, TTSJob
from models.loader import load_tts
from models.tts_engine import TTSEngine
from runners.common import BATCH_CONFIG, RUNNER_SERVICE_CONFIG, forget_voices, runner_info, settings


@bentoml.service(name="chatterbox-tts-runner", **RUNNER_SERVICE_CONFIG)
class TTSRunner:
    def __init__(self) -> None:
        self.loaded = load_tts(settings.model)
        self.engine = TTSEngine(self.loaded.model, settings.tts)

    @bentoml.api(**BATCH_CONFIG)
    def synthesize(self, jobs: list[TTSJob]) -> list[JobResult]:
        """Each job keeps its own voice, parameters and seed; the chunks of every job in the
        batch are decoded together (`models/t3_batch.py`)."""
        return self.engine.synthesize_batch(jobs)

    @bentoml.api
    def info(self) -> RunnerInfo:
        return runner_info(self.loaded, self.engine)

    @bentoml.api
    def forget(self, content_hashes: list[str]) -> int:
        """Evict deleted or replaced voices from the conditioning cache."""
        return forget_voices(self.engine, content_hashes)
