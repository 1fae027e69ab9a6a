"""Text to speech with explicit, per-job conditioning, in two stages the runner exposes apart.

- `decode`: T3 turns each job's text into speech tokens in
  the model's one continuous loop (`models/decode_scheduler.py`: jobs join it between steps
  and leave it as they stop, each sampling from its own seeded generator).
- `render`: S3Gen turns jobs' tokens into waveforms, which are then watermarked
  (`ModelEngine.render_batch`: the runner batches renders by length on a GPU).
- for a streamed chunk, both at once (`models/chunk_stream.py`): the job is prepared here
  (`prepared_stream`) and each window of its audio rendered here (`render_window`) while
  the loop still decodes it.

They are separate runner calls so that a request's render starts as soon as its own tokens
are ready, while T3 goes on decoding the others. S3Gen's flow noise comes from each job's seed
and its vocoder's from the global RNG seeded per job under S3Gen's lock (T3 samples only
from per-job generators): the same seed gives the same audio, alone or in a batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from chatterbox.tts import Conditionals

from config import TTSSettings
from contract.metrics import timed_stage
from contract.runner_jobs import AudioPayload, ClientFaultError, DecodeResult, JobResult, RenderJob, TTSJob, failed_job
from models.conditioning import with_exaggeration
from models.decode_scheduler import DecodeScheduler
from models.engine import ModelEngine, PreparedRender
from models.families import family_class
from models.families.base import TTSModel
from models.kv_rows import KVPlan
from models.loader import Loaded
from models.random_weights import utterance_tokens
from models.t3_batch import DecodeRequest, TurboDecodeRequest
from models.voice_references import ReferenceReader
from models.windowed_render import WindowedRender

logger = logging.getLogger(__name__)

LOOP_REQUESTS = 16  # requests in the model's T3 loop at once, unless the runner says otherwise


@dataclass
class PreparedDecode:
    """Jobs made ready for T3: a result for each (those that failed already final), and the
    T3 requests of the others with their indices."""

    results: list[DecodeResult | None]
    ready: list[int] = field(default_factory=list)
    requests: list[DecodeRequest | TurboDecodeRequest] = field(default_factory=list)


class NoDefaultVoiceError(ClientFaultError):
    """The checkpoint has no built-in voice (conds.pt) and the request named none."""


class TTSEngine(ModelEngine[Conditionals]):
    kind = "tts"

    def __init__(
        self,
        loaded: Loaded[TTSModel],
        settings: TTSSettings,
        references: ReferenceReader,
        stop: threading.Event | None = None,
        loop_requests: int = LOOP_REQUESTS,
        kv: KVPlan | None = None,
    ) -> None:
        super().__init__(loaded.model, settings.conditioning_cache_size, references)
        self.model: TTSModel = loaded.model
        self.family = family_class(loaded.family.name)(loaded.model)  # the model family's own code
        self.stop = stop or threading.Event()  # set when a shutdown's drain ends: decoding stops
        self.settings = settings
        self.random_weights = loaded.random_weights  # utterances end after a plausible length
        self.scheduler = DecodeScheduler(loaded.model.t3, loop_requests, self.stop, kv)

    @property
    def has_default_voice(self) -> bool:
        return self.model.conds is not None

    @property
    def decoding_jobs(self) -> int:
        return self.scheduler.decoding

    @property
    def queued_jobs(self) -> int:
        return self.scheduler.queued

    @property
    def kv_cache(self) -> str:
        return "static" if self.scheduler.kv_plan.static else "dynamic"

    @property
    def cuda_graphs(self) -> bool:
        return self.scheduler.cuda_graphs

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
        return with_exaggeration(conds, job.exaggeration, self.model.device), hit

    def _request(self, job: TTSJob, tokens: torch.Tensor, conds: Conditionals) -> DecodeRequest | TurboDecodeRequest:
        stop_after = utterance_tokens(job.text, job.seed) if self.random_weights else None
        return self.family.decode_request(job, tokens, conds.t3, self.settings, stop_after)

    def _prepared(self, jobs: list[TTSJob]) -> PreparedDecode:
        """Each job's conditioning and text tokens (perhaps a storage read: before the loop,
        never in it); a job that cannot be prepared fails here by itself."""
        prepared = PreparedDecode(results=[None] * len(jobs))
        with torch.inference_mode():
            for index, job in enumerate(jobs):
                try:
                    conds, hit = self._conditionals(job, counted=True)
                    tokens = self.family.text_tokens(job.text, job.language)
                except Exception as exc:
                    prepared.results[index] = failed_job(exc, "tts", DecodeResult)
                    continue
                prepared.results[index] = DecodeResult(text_tokens=len(tokens), conditioning_cache_hit=hit)
                prepared.ready.append(index)
                prepared.requests.append(self._request(job, tokens, conds))
        return prepared

    def _finished(self, prepared: PreparedDecode, outcomes: list[torch.Tensor | BaseException]) -> list[DecodeResult]:
        results = prepared.results
        for index, speech in zip(prepared.ready, outcomes, strict=True):
            if isinstance(speech, BaseException):
                results[index] = failed_job(speech, "tts", DecodeResult)  # type: ignore[arg-type]
            else:
                results[index].speech_tokens = speech.tolist()  # type: ignore[union-attr]
        self.jobs_done += sum(1 for result in results if result is not None and result.error)  # failed jobs end here
        return [result for result in results if result is not None]

    async def decode(self, jobs: list[TTSJob]) -> list[DecodeResult]:
        """Speech tokens for every job, from the model's loop; a job that fails reports its
        own error, and the same seed gives the same tokens whatever else is in the loop. The
        jobs are prepared on a worker thread and awaited here; cancelling the call (the
        caller hung up) takes them out of the loop."""
        prepared = await asyncio.to_thread(self._prepared, jobs)
        futures = self.scheduler.submit(prepared.requests)
        outcomes = await asyncio.gather(*(asyncio.wrap_future(future) for future in futures), return_exceptions=True)
        return self._finished(prepared, outcomes)

    def prepared_stream(self, job: TTSJob) -> tuple[DecodeResult, DecodeRequest | TurboDecodeRequest | None, WindowedRender | None]:
        """A streamed job made ready (as `_prepared` does for decoding), with its windowed
        render; on failure, only the result with its error."""
        prepared = self._prepared([job])
        [result] = prepared.results
        if not prepared.requests:
            self.jobs_done += 1
            return result, None, None  # type: ignore[return-value]
        with torch.inference_mode():
            conds, _ = self._conditionals(job, counted=False)
        return result, prepared.requests[0], WindowedRender(self.family, conds.gen, job.seed)  # type: ignore[return-value]

    def render_window(self, windowed: WindowedRender, speech_tokens: list[int], last: bool) -> np.ndarray:
        """The next window of a streamed chunk, watermarked (`models/windowed_render.py`),
        its noise seeded from the job's seed and the window's number."""
        with self.s3gen_turn(windowed.seed + windowed.windows):
            with timed_stage(self.kind, "s3gen"):
                samples, held_back = windowed.vocode(speech_tokens, last)
            with timed_stage(self.kind, "watermark"):
                return windowed.watermark.apply(samples, held_back)

    def prepare_render(self, render: RenderJob) -> PreparedRender:
        conds, _ = self._conditionals(render.job, counted=False)
        return PreparedRender(self.family.flow_row(render.speech_tokens, conds.gen, render.job.seed), render.job.seed)

    def render_result(self, render: RenderJob, samples: np.ndarray, prepared: PreparedRender) -> JobResult:
        if samples.size == 0:
            logger.warning("model produced no speech tokens for a chunk", extra={"chars": len(render.job.text)})
        return JobResult(audio=AudioPayload.from_array(samples, self.sample_rate), chunks=1, speech_tokens=len(render.speech_tokens))
