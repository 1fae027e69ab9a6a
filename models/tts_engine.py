"""Text to speech with explicit, per-job conditioning, many jobs per model pass.

The chunks of every job in a runner batch are decoded by T3 together (`models/t3_batch.py`,
each with its own seeded generator), then rendered by S3Gen one by one. Generation on one
model is serialised by a lock: the GPU runs one pass at a time anyway, and the lock is what
makes seeding S3Gen's global RNG per chunk safe (same seed, same audio).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from chatterbox.models.s3tokenizer import drop_invalid_tokens
from chatterbox.tts import ChatterboxTTS, Conditionals, punc_norm

from audio.crossfade import crossfade_join
from config import TTSSettings
from models.conditioning import LRUCache, tts_conditionals, with_exaggeration
from models.jobs import AudioPayload, ClientFaultError, JobResult, TTSJob, failed_job
from models.t3_batch import DecodeRequest, decode_batch
from models.text_chunks import split_into_chunks

logger = logging.getLogger(__name__)

SPEECH_VOCAB_SIZE = 6561  # ids at or above are T3's start/stop tokens, never audio
DECODE_BATCH = 16  # chunks decoded in one T3 loop; more wait for the next loop


class NoDefaultVoiceError(ClientFaultError):
    """The checkpoint has no built-in voice (conds.pt) and the request named none."""


@dataclass
class _Chunk:
    """One chunk of one job: what T3 decodes and S3Gen renders, seeded on its own."""

    job: int
    text: str
    tokens: torch.Tensor  # with T3's start/stop text tokens
    seed: int
    conds: Conditionals


class TTSEngine:
    def __init__(self, model: ChatterboxTTS, settings: TTSSettings) -> None:
        self.model = model
        self.settings = settings
        self.sample_rate: int = model.sr
        self.jobs_done = 0  # reported on /health
        self.cache: LRUCache[Conditionals] = LRUCache(settings.conditioning_cache_size)
        self._lock = threading.Lock()

    @property
    def has_default_voice(self) -> bool:
        return self.model.conds is not None

    def _conditionals(self, job: TTSJob) -> tuple[Conditionals, bool]:
        if job.voice is None:
            if self.model.conds is None:
                raise NoDefaultVoiceError("this model has no built-in voice: pass `voice` (upload one with POST /api/v1/voice)")
            return with_exaggeration(self.model.conds, job.exaggeration, self.model.device), True
        reference = job.voice.audio.to_array()
        return self.cache.get_or_compute(
            (job.voice.content_hash, round(job.exaggeration, 4)),
            lambda: tts_conditionals(self.model, reference, job.exaggeration),
        )

    def _text_tokens(self, text: str) -> torch.Tensor:
        tokens = self.model.tokenizer.text_to_tokens(punc_norm(text)).to(self.model.device)
        return F.pad(F.pad(tokens, (1, 0), value=self.model.t3.hp.start_text_token), (0, 1), value=self.model.t3.hp.stop_text_token)[0]

    def _request(self, chunk: _Chunk, job: TTSJob) -> DecodeRequest:
        return DecodeRequest(
            text_tokens=chunk.tokens, cond=chunk.conds.t3, generator=torch.Generator(device=self.model.device).manual_seed(chunk.seed),
            max_new_tokens=self.settings.max_new_tokens, cfg_weight=job.cfg_weight, temperature=job.temperature,
            top_p=self.settings.top_p, min_p=self.settings.min_p, repetition_penalty=self.settings.repetition_penalty,
        )

    def _render(self, chunk: _Chunk, speech: torch.Tensor) -> np.ndarray:
        """S3Gen, one chunk at a time (its flow-matching noise seeded by the chunk)."""
        speech = drop_invalid_tokens(speech)
        speech = speech[speech < SPEECH_VOCAB_SIZE].to(self.model.device)
        if speech.numel() == 0:
            logger.warning("model produced no speech tokens for a chunk", extra={"chars": len(chunk.text)})
            return np.zeros(0, dtype=np.float32)
        torch.manual_seed(chunk.seed)
        wav, _ = self.model.s3gen.inference(speech_tokens=speech, ref_dict=chunk.conds.gen)
        return wav.squeeze(0).detach().cpu().numpy().astype(np.float32)

    def _decode(self, chunks: list[_Chunk], jobs: list[TTSJob]) -> list[torch.Tensor | Exception]:
        """All chunks in batches of DECODE_BATCH; if a batch fails, its chunks are retried
        one by one so only the job at fault fails."""
        decoded: list[torch.Tensor | Exception] = []
        for first in range(0, len(chunks), DECODE_BATCH):
            part = chunks[first : first + DECODE_BATCH]
            try:
                decoded += decode_batch(self.model.t3, [self._request(chunk, jobs[chunk.job]) for chunk in part])
            except Exception:
                logger.exception("batched decoding failed; decoding its chunks one by one")
                for chunk in part:
                    try:
                        decoded += decode_batch(self.model.t3, [self._request(chunk, jobs[chunk.job])])
                    except Exception as exc:
                        decoded.append(exc)
        return decoded

    def synthesize_batch(self, jobs: list[TTSJob]) -> list[JobResult]:
        """Every chunk of every job decoded together by T3, then rendered by S3Gen; each
        job's chunks joined with a crossfade and watermarked. Chunk i of a job is seeded
        with `seed + i`: the same seed gives the same audio whatever else is in the batch."""
        started = time.perf_counter()
        results: list[JobResult | None] = [None] * len(jobs)
        with self._lock, torch.inference_mode():
            chunks: list[_Chunk] = []
            cache_hits: dict[int, bool] = {}
            for index, job in enumerate(jobs):
                try:
                    conds, cache_hits[index] = self._conditionals(job)
                except Exception as exc:
                    results[index] = failed_job(exc, "tts")
                    continue
                texts = split_into_chunks(job.text, self.settings.max_chunk_chars)
                chunks += [_Chunk(index, text, self._text_tokens(text), (job.seed + number) % 2**32, conds) for number, text in enumerate(texts)]
            decoded = self._decode(chunks, jobs)
            clips: dict[int, list[np.ndarray]] = {}
            for chunk, speech in zip(chunks, decoded, strict=True):
                if results[chunk.job] is not None:
                    continue
                try:
                    if isinstance(speech, Exception):
                        raise speech
                    clips.setdefault(chunk.job, []).append(self._render(chunk, speech))
                except Exception as exc:
                    results[chunk.job] = failed_job(exc, "tts")
            for index, job_clips in clips.items():
                if results[index] is not None:
                    continue
                spoken = [(chunk, speech) for chunk, speech in zip(chunks, decoded, strict=True) if chunk.job == index]
                joined = crossfade_join(job_clips, self.sample_rate, self.settings.crossfade_ms)
                audio = self.model.watermarker.apply_watermark(joined, sample_rate=self.sample_rate) if joined.size else joined
                results[index] = JobResult(
                    audio=AudioPayload.from_array(np.asarray(audio, dtype=np.float32), self.sample_rate),
                    chunks=len(job_clips),
                    conditioning_cache_hit=cache_hits[index],
                    generation_seconds=time.perf_counter() - started,
                    text_tokens=sum(len(chunk.tokens) for chunk, _ in spoken),
                    speech_tokens=sum(len(speech) for _, speech in spoken),
                )
        self.jobs_done += len(jobs)
        logger.info("tts batch done", extra={"batch_size": len(jobs), "chunks": len(chunks)})
        return [result if result is not None else failed_job(RuntimeError("no audio"), "tts") for result in results]
