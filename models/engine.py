"""What the TTS and VC engines share: the loaded model, the conditioning cache (voices keyed
by content hash, evicted when a voice is replaced or deleted), where voice references come
from, S3Gen under its lock rendering several jobs in one flow pass (each with its own seeded
noise, `models/s3gen_flow.py`), the watermark, and the counters `/api/v1/health` reports."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from contract.metrics import ModelKind, timed_stage
from contract.runner_jobs import JobResult, failed_job
from models.conditioning import LRUCache
from models.s3gen_flow import FlowRow, render_rows
from models.voice_references import ReferenceReader

logger = logging.getLogger(__name__)
ConditionalsT = TypeVar("ConditionalsT")


@dataclass
class PreparedRender:
    """A job made ready for S3Gen: what its flow renders (None: nothing to say), the seed of
    its noise, and whether its voice came from the conditioning cache."""

    row: FlowRow | None
    seed: int
    cache_hit: bool = False


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
    def prepare_render(self, job: Any) -> PreparedRender:
        """The job's flow row (its voice's conditioning may read storage: before S3Gen's lock)."""

    @abstractmethod
    def render_result(self, job: Any, samples: np.ndarray, prepared: PreparedRender) -> JobResult:
        """The job's answer once its audio is rendered and watermarked."""

    def render(self, job: Any) -> JobResult:
        """One job's audio from its tokens."""
        return self.render_batch([job])[0]

    def render_batch(self, jobs: list[Any]) -> list[JobResult]:
        """Whole renders of `jobs`: S3Gen's flow over all of them in one pass, then each one's
        vocoder and watermark. A job that cannot be prepared, or fails alone, reports its own
        error; the same seed gives the same audio in any batch."""
        prepared: list[PreparedRender | JobResult] = []
        for job in jobs:
            try:
                with torch.inference_mode():
                    prepared.append(self.prepare_render(job))
            except Exception as exc:
                prepared.append(failed_job(exc, self.kind))
        ready = [(index, entry) for index, entry in enumerate(prepared) if isinstance(entry, PreparedRender)]
        audio = self._rendered([entry for _, entry in ready])
        results: list[JobResult] = [entry for entry in prepared]  # type: ignore[misc]  # the prepared ones are replaced below
        for (index, entry), samples in zip(ready, audio, strict=True):
            results[index] = failed_job(samples, self.kind) if isinstance(samples, Exception) else self.render_result(jobs[index], samples, entry)
        self.jobs_done += len(jobs)
        return results

    def _rendered(self, prepared: list[PreparedRender]) -> list[np.ndarray | Exception]:
        """S3Gen's watermarked audio of each prepared render (empty for those with nothing to
        say), under its lock; when a batch fails, each of its renders is tried alone."""
        rows = [entry for entry in prepared if entry.row is not None]
        with self._s3gen_lock, torch.inference_mode():
            with timed_stage(self.kind, "s3gen"):
                audio: list[np.ndarray | Exception]
                try:
                    audio = list(render_rows(self.model.s3gen, [entry.row for entry in rows], [entry.seed for entry in rows]))  # type: ignore[attr-defined, misc]
                except Exception as exc:
                    if len(rows) == 1:
                        audio = [exc]
                    else:
                        logger.exception("batched render failed; rendering its jobs one by one", extra={"jobs": len(rows)})
                        audio = [self._alone(entry) for entry in rows]
            with timed_stage(self.kind, "watermark"):
                marked = iter([samples if isinstance(samples, Exception) else self._watermarked(samples) for samples in audio])
        return [next(marked) if entry.row is not None else np.zeros(0, dtype=np.float32) for entry in prepared]

    def _alone(self, entry: PreparedRender) -> np.ndarray | Exception:
        try:
            return render_rows(self.model.s3gen, [entry.row], [entry.seed])[0]  # type: ignore[attr-defined, list-item]
        except Exception as exc:
            return exc

    def _watermarked(self, samples: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.watermarker.apply_watermark(samples, sample_rate=self.sample_rate), dtype=np.float32)  # type: ignore[attr-defined]

    @property
    def decoding_jobs(self) -> int | None:
        """Jobs in the model's T3 loop now (None: the engine has no loop)."""
        return None

    @property
    def queued_jobs(self) -> int | None:
        """Jobs waiting to join the loop (None: the engine has no loop)."""
        return None

    @property
    def kv_cache(self) -> str | None:
        """Where the loop keeps T3's keys and values: static or dynamic (None: no loop)."""
        return None

    @property
    def cuda_graphs(self) -> bool | None:
        """Whether the loop's steps replay as CUDA graphs (None: no loop)."""
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
        """S3Gen to one window at a time, the vocoder's noise drawn from the global generator
        seeded with `seed` under the lock (T3 samples only from per-job generators), so the
        same seed gives the same audio whatever runs beside it."""
        with self._s3gen_lock, torch.inference_mode():
            torch.manual_seed(seed)
            yield
