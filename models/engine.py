"""What the TTS and VC engines share: the loaded model, the conditioning cache (voices keyed
by content hash, evicted when a voice is replaced or deleted), where voice references come
from, S3Gen under its lock with its noise seeded per render, the watermark, and the counters
`/api/v1/health` reports."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from contract.metrics import ModelKind, timed_stage
from contract.runner_jobs import JobResult
from models.conditioning import LRUCache
from models.voice_references import ReferenceReader

logger = logging.getLogger(__name__)
ConditionalsT = TypeVar("ConditionalsT")


class ModelEngine(ABC, Generic[ConditionalsT]):
    kind: ModelKind

    def __init__(self, model: object, cache_size: int, references: ReferenceReader) -> None:
        self.model = model
        self.references = references
        self.sample_rate: int = model.sr  # type: ignore[attr-defined]
        self.jobs_done = 0  # reported on /health
        self.cache: LRUCache[ConditionalsT] = LRUCache(cache_size, self.kind)
        self._s3gen_lock = threading.Lock()

    @property
    @abstractmethod
    def has_default_voice(self) -> bool:
        """The checkpoint brought a built-in voice (what a job without a voice speaks in)."""

    @abstractmethod
    def render(self, job: Any) -> JobResult:
        """One job's audio from its tokens: S3Gen (`rendered`), then the result."""

    @property
    def decoding_jobs(self) -> int | None:
        """Jobs in the model's T3 loop now (None: the engine has no loop)."""
        return None

    @property
    def queued_jobs(self) -> int | None:
        """Jobs waiting to join the loop (None: the engine has no loop)."""
        return None

    def performed_tags(self) -> list[str]:
        """The paralinguistic tags the model performs (Turbo's tokenizer has them)."""
        return []

    def forget(self, content_hashes: list[str]) -> int:
        """Drop cached conditionals of deleted or replaced voices (keyed by content hash)."""
        doomed = set(content_hashes)
        dropped = self.cache.evict(lambda key: key in doomed)
        logger.info("voice conditionals forgotten", extra={"voices": len(doomed), "entries": dropped})
        return dropped

    @contextmanager
    def s3gen_turn(self, seed: int) -> Iterator[None]:
        """S3Gen to one render (or window) at a time, its noise drawn from the global
        generator seeded with `seed` under the lock (T3 samples only from per-job
        generators), so the same seed gives the same audio whatever runs beside it."""
        with self._s3gen_lock, torch.inference_mode():
            torch.manual_seed(seed)
            yield

    def rendered(self, render: Callable[[], np.ndarray], seed: int) -> np.ndarray:
        """S3Gen's waveform, watermarked (in `s3gen_turn`)."""
        with self.s3gen_turn(seed):
            with timed_stage(self.kind, "s3gen"):
                samples = render()
            if samples.size == 0:
                return samples
            with timed_stage(self.kind, "watermark"):
                return np.asarray(self.model.watermarker.apply_watermark(samples, sample_rate=self.sample_rate), dtype=np.float32)  # type: ignore[attr-defined]
