"""Voice conversion with an explicit target voice per job (never `set_target_voice`).

A runner batch is converted in two steps: the S3 tokenizer reads every source of the batch
in one padded pass (the same tokens as one at a time, tested), then S3Gen renders each job
against its own target. S3Gen is not batched: side by side it gained 1.0-1.14x on the CPU
(`benchmarks/s3gen_batching.py`, figures in docs/performance.md), and one render per job
keeps a job's output independent of its batch-mates.
"""

from __future__ import annotations

import logging
import threading
import time

import librosa
import numpy as np
import torch
from chatterbox.models.s3tokenizer import S3_SR
from chatterbox.vc import ChatterboxVC

from config import TTSSettings
from models.conditioning import LRUCache, s3gen_reference
from models.jobs import AudioPayload, JobResult, VCJob, failed_job
from models.metrics import count_cache_lookup, timed_stage
from models.tts_engine import NoDefaultVoiceError

logger = logging.getLogger(__name__)
RENDER_SEED = 0


class VCEngine:
    def __init__(self, model: ChatterboxVC, settings: TTSSettings) -> None:
        self.model = model
        self.sample_rate: int = model.sr
        self.jobs_done = 0  # reported on /health
        self.cache: LRUCache[dict] = LRUCache(settings.conditioning_cache_size)
        self._lock = threading.Lock()

    @property
    def has_default_voice(self) -> bool:
        return self.model.ref_dict is not None

    def _target(self, job: VCJob) -> tuple[dict, bool]:
        if job.target_voice is None:
            if self.model.ref_dict is None:
                raise NoDefaultVoiceError("this model has no built-in voice: pass `target_voice` or `target_audio`")
            return self.model.ref_dict, True
        reference = job.target_voice.audio.to_array()
        with timed_stage("vc", "conditioning"):
            ref_dict, hit = self.cache.get_or_compute(
                job.target_voice.content_hash, lambda: s3gen_reference(self.model.s3gen, reference, self.model.device)
            )
        count_cache_lookup("vc", hit)
        return ref_dict, hit

    def _tokenize(self, sources: list[np.ndarray]) -> list[torch.Tensor | Exception]:
        """Speech tokens of every source in one padded pass; if that fails, each alone, so
        only the source at fault fails."""
        with timed_stage("vc", "tokenize"):
            try:
                tokens, lengths = self.model.s3gen.tokenizer([torch.from_numpy(source) for source in sources])
                return [row[:length] for row, length in zip(tokens, lengths.tolist(), strict=True)]
            except Exception:
                logger.exception("batched tokenizing failed; tokenizing its sources one by one")
                alone: list[torch.Tensor | Exception] = []
                for source in sources:
                    try:
                        alone.append(self.model.s3gen.tokenizer([torch.from_numpy(source)])[0][0])
                    except Exception as exc:
                        alone.append(exc)
                return alone

    def _render(self, tokens: torch.Tensor, ref_dict: dict) -> np.ndarray:
        """Flow-matching noise seeded per render (under the engine's lock): the same source
        and target give the same audio, alone or in any batch."""
        torch.manual_seed(RENDER_SEED)
        with timed_stage("vc", "s3gen"):
            wav, _ = self.model.s3gen.inference(speech_tokens=tokens[None].to(self.model.device), ref_dict=ref_dict)
        samples = wav.squeeze(0).detach().cpu().numpy().astype(np.float32)
        with timed_stage("vc", "watermark"):
            return np.asarray(self.model.watermarker.apply_watermark(samples, sample_rate=self.sample_rate), dtype=np.float32)

    def convert_batch(self, jobs: list[VCJob]) -> list[JobResult]:
        """Each job converted to its own target; a job that fails reports its own error."""
        started = time.perf_counter()
        results: list[JobResult | None] = [None] * len(jobs)
        with self._lock, torch.inference_mode():
            targets: dict[int, tuple[dict, bool]] = {}
            for index, job in enumerate(jobs):
                try:
                    targets[index] = self._target(job)
                except Exception as exc:
                    results[index] = failed_job(exc, "vc")
            ready = list(targets)
            sources = [librosa.resample(jobs[index].source.to_array(), orig_sr=jobs[index].source.sample_rate, target_sr=S3_SR) for index in ready]
            for index, tokens in zip(ready, self._tokenize(sources) if ready else [], strict=True):
                try:
                    if isinstance(tokens, Exception):
                        raise tokens
                    ref_dict, cache_hit = targets[index]
                    results[index] = JobResult(
                        audio=AudioPayload.from_array(self._render(tokens, ref_dict), self.sample_rate),
                        chunks=1,
                        conditioning_cache_hit=cache_hit,
                        generation_seconds=time.perf_counter() - started,
                        speech_tokens=len(tokens),
                    )
                except Exception as exc:
                    results[index] = failed_job(exc, "vc")
        self.jobs_done += len(jobs)
        logger.info("vc batch done", extra={"batch_size": len(jobs)})
        return [result for result in results if result is not None]
