"""Text to speech with explicit, per-job conditioning.

Generation on one model is serialised by a lock: the GPU runs one decode at a time anyway,
and the lock is what makes seeding the global RNG per job safe (same seed, same audio).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F
from chatterbox.models.s3tokenizer import drop_invalid_tokens
from chatterbox.tts import ChatterboxTTS, Conditionals, punc_norm

from audio.crossfade import crossfade_join
from config import TTSSettings
from models.conditioning import LRUCache, tts_conditionals, with_exaggeration
from models.jobs import AudioPayload, JobResult, TTSJob
from models.text_chunks import split_into_chunks

logger = logging.getLogger(__name__)

SPEECH_VOCAB_SIZE = 6561  # ids at or above are T3's start/stop tokens, never audio


class NoDefaultVoiceError(ValueError):
    """The checkpoint has no built-in voice (conds.pt) and the request named none."""


class TTSEngine:
    def __init__(self, model: ChatterboxTTS, settings: TTSSettings) -> None:
        self.model = model
        self.settings = settings
        self.sample_rate: int = model.sr
        self.jobs_done = 0  # counted by the runner, reported on /health
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

    def _speak_chunk(self, text: str, conds: Conditionals, job: TTSJob) -> tuple[np.ndarray, int, int]:
        """The chunk's audio, and its text and speech token counts (reported as usage)."""
        model = self.model
        tokens = model.tokenizer.text_to_tokens(punc_norm(text)).to(model.device)
        text_tokens = tokens.shape[-1]
        tokens = torch.cat([tokens, tokens], dim=0)  # T3.inference always decodes a (cond, uncond) pair
        tokens = F.pad(F.pad(tokens, (1, 0), value=model.t3.hp.start_text_token), (0, 1), value=model.t3.hp.stop_text_token)
        speech = model.t3.inference(
            t3_cond=conds.t3,
            text_tokens=tokens,
            max_new_tokens=self.settings.max_new_tokens,
            temperature=job.temperature,
            cfg_weight=job.cfg_weight,
            repetition_penalty=self.settings.repetition_penalty,
            min_p=self.settings.min_p,
            top_p=self.settings.top_p,
        )
        speech = drop_invalid_tokens(speech[0])
        speech = speech[speech < SPEECH_VOCAB_SIZE].to(model.device)
        if speech.numel() == 0:
            logger.warning("model produced no speech tokens for a chunk", extra={"chars": len(text)})
            return np.zeros(0, dtype=np.float32), text_tokens, 0
        wav, _ = model.s3gen.inference(speech_tokens=speech, ref_dict=conds.gen)
        return wav.squeeze(0).detach().cpu().numpy().astype(np.float32), text_tokens, speech.numel()

    def synthesize(self, job: TTSJob) -> JobResult:
        started = time.perf_counter()
        chunks = split_into_chunks(job.text, self.settings.max_chunk_chars)
        with self._lock, torch.inference_mode():
            conds, cache_hit = self._conditionals(job)
            torch.manual_seed(job.seed)
            spoken = [self._speak_chunk(chunk, conds, job) for chunk in chunks]
            joined = crossfade_join([clip for clip, _, _ in spoken], self.sample_rate, self.settings.crossfade_ms)
            audio = self.model.watermarker.apply_watermark(joined, sample_rate=self.sample_rate) if joined.size else joined
        return JobResult(
            audio=AudioPayload.from_array(np.asarray(audio, dtype=np.float32), self.sample_rate),
            chunks=len(chunks),
            conditioning_cache_hit=cache_hit,
            generation_seconds=time.perf_counter() - started,
            text_tokens=sum(count for _, count, _ in spoken),
            speech_tokens=sum(count for _, _, count in spoken),
        )
