"""Voice conversion with an explicit target voice per job (never `set_target_voice`)."""

from __future__ import annotations

import threading
import time

import librosa
import numpy as np
import torch
from chatterbox.models.s3tokenizer import S3_SR
from chatterbox.vc import ChatterboxVC

from config import TTSSettings
from models.conditioning import LRUCache, s3gen_reference
from models.jobs import AudioPayload, JobResult, VCJob
from models.tts_engine import NoDefaultVoiceError


class VCEngine:
    def __init__(self, model: ChatterboxVC, settings: TTSSettings) -> None:
        self.model = model
        self.sample_rate: int = model.sr
        self.jobs_done = 0  # counted by the runner, reported on /health
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
        return self.cache.get_or_compute(
            job.target_voice.content_hash, lambda: s3gen_reference(self.model.s3gen, reference, self.model.device)
        )

    def convert(self, job: VCJob) -> JobResult:
        started = time.perf_counter()
        source = job.source.to_array()
        source_16k = librosa.resample(source, orig_sr=job.source.sample_rate, target_sr=S3_SR)
        with self._lock, torch.inference_mode():
            ref_dict, cache_hit = self._target(job)
            tokens, _ = self.model.s3gen.tokenizer(torch.from_numpy(source_16k).float().to(self.model.device)[None])
            wav, _ = self.model.s3gen.inference(speech_tokens=tokens, ref_dict=ref_dict)
            samples = wav.squeeze(0).detach().cpu().numpy().astype(np.float32)
            audio = self.model.watermarker.apply_watermark(samples, sample_rate=self.sample_rate)
        return JobResult(
            audio=AudioPayload.from_array(np.asarray(audio, dtype=np.float32), self.sample_rate),
            chunks=1,
            conditioning_cache_hit=cache_hit,
            generation_seconds=time.perf_counter() - started,
        )
