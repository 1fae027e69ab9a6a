"""Voice conversion with an explicit target voice per job (never `set_target_voice`), in
the same two stages as TTS:

- `tokenize_batch`: the S3 tokenizer reads every source of a runner batch in one padded pass
  (the same tokens as one at a time, tested);
- `render`: S3Gen says jobs' tokens in their target voices (`ModelEngine.render_batch`, one
  flow pass; the runner batches renders by length on a GPU), then the audio is watermarked.

They are separate runner calls so a request waits for its own render only.
"""

from __future__ import annotations

import logging
import threading

import librosa
import numpy as np
import torch
from chatterbox.models.s3tokenizer import S3_SR
from chatterbox.vc import ChatterboxVC

from config import TTSSettings
from contract.metrics import timed_stage
from contract.runner_jobs import AudioPayload, DecodeResult, JobResult, VCJob, VCRenderJob, VoiceReference, failed_job
from models.conditioning import s3gen_reference
from models.engine import ModelEngine, PreparedRender
from models.s3gen_flow import seeded_row
from models.tts_engine import NoDefaultVoiceError
from models.voice_references import ReferenceReader

logger = logging.getLogger(__name__)
RENDER_SEED = 0


class VCEngine(ModelEngine[dict]):
    kind = "vc"

    def __init__(self, model: ChatterboxVC, settings: TTSSettings, references: ReferenceReader) -> None:
        super().__init__(model, settings.conditioning_cache_size, references)
        self.model: ChatterboxVC = model
        self._tokenizer_lock = threading.Lock()

    @property
    def has_default_voice(self) -> bool:
        return self.model.ref_dict is not None

    def _target(self, voice: VoiceReference | None) -> tuple[dict, bool]:
        if voice is None:
            if self.model.ref_dict is None:
                raise NoDefaultVoiceError("this model has no built-in voice: pass `target_voice` or `target_audio`")
            return self.model.ref_dict, True
        with timed_stage("vc", "conditioning"):
            ref_dict, hit = self.cache.get_or_compute(voice.content_hash, lambda: s3gen_reference(self.model.s3gen, self.references.samples(voice), self.model.device))
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

    def tokenize_batch(self, jobs: list[VCJob]) -> list[DecodeResult]:
        """Every job's source speech as S3 tokens; a source that fails reports its own error."""
        with self._tokenizer_lock, torch.inference_mode():
            sources = [librosa.resample(job.source.to_array(), orig_sr=job.source.sample_rate, target_sr=S3_SR) for job in jobs]
            results = [
                failed_job(tokens, "vc", DecodeResult) if isinstance(tokens, Exception) else DecodeResult(speech_tokens=tokens.tolist())
                for tokens in (self._tokenize(sources) if sources else [])
            ]
        self.jobs_done += sum(1 for result in results if result.error)  # failed jobs end here
        logger.info("vc batch tokenized", extra={"batch_size": len(jobs)})
        return results

    def prepare_render(self, job: VCRenderJob) -> PreparedRender:
        """The job's tokens in its target voice; the flow's noise is seeded alike for every
        job: the same source and target give the same audio, alone or in any batch."""
        ref_dict, cache_hit = self._target(job.target_voice)
        tokens = torch.tensor(job.speech_tokens, dtype=torch.long, device=self.model.device)
        return PreparedRender(seeded_row(tokens, ref_dict, RENDER_SEED), RENDER_SEED, cache_hit)

    def render_result(self, job: VCRenderJob, samples: np.ndarray, prepared: PreparedRender) -> JobResult:
        return JobResult(audio=AudioPayload.from_array(samples, self.sample_rate), chunks=1, conditioning_cache_hit=prepared.cache_hit, speech_tokens=len(job.speech_tokens))
