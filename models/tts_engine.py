"""Text to speech with explicit, per-job conditioning, in two stages the runner exposes apart.

- `decode_batch`: T3 turns the text of every job in a runner batch into speech tokens in one
  KV-cached loop (`models/t3_batch.py`, each job sampling from its own seeded generator).
- `render`: S3Gen turns one job's tokens into a waveform, which is then watermarked.

They are separate runner calls so that a request waits for its own render only, not for
every render of the batch it was decoded in (BentoML answers a batch all at once), and so
that T3 can decode the next batch while S3Gen renders. Renders are not batched: batching
S3Gen ran at 0.90-1.03x on the CPU (`benchmarks/s3gen_batching.py`). Each stage holds its own
lock: T3 samples only from per-job generators, so S3Gen alone uses the global RNG, seeded
per render under its lock (same seed, same audio).
"""

from __future__ import annotations

import logging
import threading

import torch
from chatterbox.tts import Conditionals

from config import TTSSettings
from contract.metrics import count_cache_lookup, metrics, timed_stage
from contract.runner_jobs import AudioPayload, ClientFaultError, DecodeResult, JobResult, RenderJob, TTSJob, failed_job
from lifecycle.drain import ShuttingDownError
from models.conditioning import with_exaggeration
from models.engine import ModelEngine
from models.families import family_class
from models.families.base import TTSModel
from models.loader import Loaded
from models.random_weights import utterance_tokens
from models.t3_batch import DecodeRequest, TurboDecodeRequest
from models.t3_loop import decode_batch
from models.voice_references import ReferenceReader

logger = logging.getLogger(__name__)

DECODE_BATCH = 16  # jobs decoded in one T3 loop; more wait for the next loop


class NoDefaultVoiceError(ClientFaultError):
    """The checkpoint has no built-in voice (conds.pt) and the request named none."""


class TTSEngine(ModelEngine[Conditionals]):
    kind = "tts"

    def __init__(self, loaded: Loaded[TTSModel], settings: TTSSettings, references: ReferenceReader, stop: threading.Event | None = None) -> None:
        super().__init__(loaded.model, settings.conditioning_cache_size, references)
        self.model: TTSModel = loaded.model
        self.family = family_class(loaded.family.name)(loaded.model)  # the model family's own code
        self.stop = stop or threading.Event()  # set when a shutdown's drain ends: decoding stops
        self.settings = settings
        self.random_weights = loaded.random_weights  # utterances end after a plausible length
        self._t3_lock = threading.Lock()

    @property
    def has_default_voice(self) -> bool:
        return self.model.conds is not None

    def performed_tags(self) -> list[str]:
        return self.family.performed_tags()

    def _conditionals(self, job: TTSJob, *, counted: bool) -> tuple[Conditionals, bool]:
        """The job's conditionals at its exaggeration, from the cache when it has the voice.
        `counted`: a lookup for T3 (one per job) counts in the hit rate; S3Gen's second
        lookup of the same voice does not."""
        if job.voice is None:
            if self.model.conds is None:
                raise NoDefaultVoiceError("this model has no built-in voice: pass `voice` (upload one with POST /api/v1/voice)")
            return with_exaggeration(self.model.conds, job.exaggeration, self.model.device), True
        voice = job.voice
        with timed_stage("tts", "conditioning"):
            conds, hit = self.cache.get_or_compute(
                voice.content_hash, lambda: self.family.conditionals(self.references.samples(voice)), counted=counted
            )
        if counted:
            count_cache_lookup("tts", hit)
        return with_exaggeration(conds, job.exaggeration, self.model.device), hit

    def _request(self, job: TTSJob, tokens: torch.Tensor, conds: Conditionals) -> DecodeRequest | TurboDecodeRequest:
        stop_after = utterance_tokens(job.text, job.seed) if self.random_weights else None
        return self.family.decode_request(job, tokens, conds.t3, self.settings, stop_after)

    def _decode(self, requests: list[DecodeRequest | TurboDecodeRequest]) -> list[torch.Tensor | Exception]:
        """All requests in loops of DECODE_BATCH; if a loop fails, its requests are retried
        one by one so only the job at fault fails."""
        decoded: list[torch.Tensor | Exception] = []
        for first in range(0, len(requests), DECODE_BATCH):
            part = requests[first : first + DECODE_BATCH]
            metrics().decode_batch_chunks.observe(len(part))
            try:
                with timed_stage("tts", "t3"):
                    decoded += decode_batch(self.model.t3, part, self.stop)
            except ShuttingDownError as exc:
                decoded += [exc] * (len(requests) - len(decoded))
                break
            except Exception:
                logger.exception("batched decoding failed; decoding its jobs one by one")
                for request in part:
                    try:
                        decoded += decode_batch(self.model.t3, [request])
                    except Exception as exc:
                        decoded.append(exc)
        return decoded

    def decode_batch(self, jobs: list[TTSJob]) -> list[DecodeResult]:
        """Speech tokens for every job, decoded together; a job that fails reports its own
        error. The same seed gives the same tokens whatever else is in the batch."""
        results: list[DecodeResult | None] = [None] * len(jobs)
        ready: list[int] = []
        requests: list[DecodeRequest | TurboDecodeRequest] = []
        with torch.inference_mode():  # conditioning (maybe a storage read) outside T3's lock
            for index, job in enumerate(jobs):
                try:
                    conds, hit = self._conditionals(job, counted=True)
                    tokens = self.family.text_tokens(job.text, job.language)
                except Exception as exc:
                    results[index] = failed_job(exc, "tts", DecodeResult)
                    continue
                results[index] = DecodeResult(text_tokens=len(tokens), conditioning_cache_hit=hit)
                ready.append(index)
                requests.append(self._request(job, tokens, conds))
        with self._t3_lock, torch.inference_mode():
            for index, speech in zip(ready, self._decode(requests), strict=True):
                if isinstance(speech, Exception):
                    results[index] = failed_job(speech, "tts", DecodeResult)
                else:
                    results[index].speech_tokens = speech.tolist()  # type: ignore[union-attr]
        self.jobs_done += sum(1 for result in results if result is not None and result.error)  # failed jobs end here
        logger.info("tts batch decoded", extra={"batch_size": len(jobs)})
        return [result for result in results if result is not None]

    def render(self, render: RenderJob) -> JobResult:
        """One job's waveform from its speech tokens, watermarked; S3Gen's flow-matching
        noise is seeded with the job's seed."""
        try:
            with torch.inference_mode():
                conds, _ = self._conditionals(render.job, counted=False)
            samples = self.rendered(lambda: self.family.render(render.speech_tokens, conds.gen), render.job.seed)
            if samples.size == 0:
                logger.warning("model produced no speech tokens for a chunk", extra={"chars": len(render.job.text)})
            return JobResult(audio=AudioPayload.from_array(samples, self.sample_rate), chunks=1, speech_tokens=len(render.speech_tokens))
        except Exception as exc:
            return failed_job(exc, "tts")
        finally:
            self.jobs_done += 1
