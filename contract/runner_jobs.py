"""What crosses the boundary between the API service and the model runners.

A job is self-contained: it carries its own voice reference, parameters and seed, so a
batch can mix voices freely and no runner keeps per-request state. A voice travels by
reference (its content hash, and for a stored voice its reference's storage key): a runner
that has the voice's conditionals cached needs nothing more, one that does not reads the
reference from storage, and only when it cannot (a predefined or uploaded voice, storage
unreachable) does the job come back with `needs_reference`, to be sent again with the
audio. Audio travels as raw float32 samples (base64 in JSON), full precision between processes.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from contract.voice_layout import CONDITIONING_SECONDS, REFERENCE_SAMPLE_RATE

logger = logging.getLogger(__name__)


class AudioPayload(BaseModel):
    """Mono float32 samples at `sample_rate`."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    sample_rate: int = Field(gt=0)
    samples: bytes

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int) -> AudioPayload:
        return cls(sample_rate=sample_rate, samples=np.ascontiguousarray(samples, dtype="<f4").tobytes())

    def to_array(self) -> np.ndarray:
        return np.frombuffer(self.samples, dtype="<f4").copy()


class VoiceReference(BaseModel):
    """A voice to clone: the hash that keys its conditioning cache, where its 24 kHz reference
    is stored (library voices), and the reference itself only when a runner asked for it."""

    content_hash: str = Field(min_length=8)
    reference_key: str | None = None
    audio: AudioPayload | None = None

    def by_reference(self) -> VoiceReference:
        """This voice without its audio: what a job carries first."""
        return self.model_copy(update={"audio": None})


class TTSJob(BaseModel):
    """One chunk of text to speak (the API splits long texts, so each chunk is a job that
    batches with other requests' chunks)."""

    text: str = Field(min_length=1)
    voice: VoiceReference | None = None  # None: the checkpoint's built-in voice
    exaggeration: float = 0.5
    cfg_weight: float = 0.5
    temperature: float = 0.8
    seed: int
    language: str | None = None  # ISO 639-1, for the multilingual model; None: English


def conditioning_samples(samples: np.ndarray) -> np.ndarray:
    """What conditioning reads of a reference: at most its first CONDITIONING_SECONDS."""
    return samples[: int(CONDITIONING_SECONDS * REFERENCE_SAMPLE_RATE)]


def conditioning_reference(samples: np.ndarray, content_hash: str, reference_key: str | None = None) -> VoiceReference:
    """A voice with the audio a runner conditions on, for a runner that asked for it."""
    return VoiceReference(content_hash=content_hash, reference_key=reference_key, audio=AudioPayload.from_array(conditioning_samples(samples), REFERENCE_SAMPLE_RATE))


def unstored_reference(samples: np.ndarray) -> VoiceReference:
    """A voice that is in no library (an upload used once, a predefined file), keyed by the
    hash of its samples so a second use of the same recording hits the runner's cache."""
    return conditioning_reference(samples, hashlib.sha256(samples.tobytes()).hexdigest())


class VCJob(BaseModel):
    """Source speech to tokenize; the target voice goes with its render (`VCRenderJob`)."""

    source: AudioPayload


class Render(BaseModel):
    """What every S3Gen job says about its place in its request."""

    first: bool = True  # the request's first render, which a listener waits for: it goes before later chunks of other requests


class RenderJob(Render):
    """A decoded TTS job for S3Gen: its speech tokens, with the job they came from (voice,
    exaggeration for the conditioning cache, seed for the flow-matching noise)."""

    job: TTSJob
    speech_tokens: list[int]


class StreamJob(Render):
    """A TTS job to decode and render in windows as its tokens arrive (a streamed chunk);
    answered with window frames (`contract/stream_frames.py`)."""

    job: TTSJob


class VCRenderJob(Render):
    """A tokenized VC job for S3Gen: the source's speech tokens and the voice to say them in."""

    target_voice: VoiceReference | None = None  # None: the checkpoint's built-in voice
    speech_tokens: list[int]


class JobOutcome(BaseModel):
    """What every runner result has: a failed job reports `error` without failing its
    batch-mates; `needs_reference`: send the job again with its voice's audio."""

    error: str | None = None
    error_is_client_fault: bool = False
    needs_reference: bool = False


class DecodeResult(JobOutcome):
    """Speech tokens of one job: for TTS decoded by T3 (ending with the stop token when
    emitted), for VC read from the source speech by the S3 tokenizer."""

    speech_tokens: list[int] = []
    text_tokens: int = 0
    conditioning_cache_hit: bool = False


class JobResult(JobOutcome):
    """One job's audio."""

    audio: AudioPayload | None = None
    chunks: int = 0
    conditioning_cache_hit: bool = False
    generation_seconds: float = 0.0
    text_tokens: int = 0
    speech_tokens: int = Field(0, description="Speech tokens generated (25 per second of audio).")


class ClientFaultError(ValueError):
    """The job's own input cannot be used (a 400 for its request, not a model failure)."""


class ReferenceNeededError(LookupError):
    """The runner has no conditionals for the job's voice and cannot read its reference."""


OutcomeT = TypeVar("OutcomeT", bound=JobOutcome)


def failed_job(exc: Exception, kind: str, result_type: type[OutcomeT] = JobResult) -> OutcomeT:  # type: ignore[assignment]
    """One job's failure as its result, so its batch-mates are unaffected; model failures
    are logged with their traceback, a client's unusable input is not."""
    if isinstance(exc, ClientFaultError):
        return result_type(error=str(exc), error_is_client_fault=True)
    if isinstance(exc, ReferenceNeededError):
        return result_type(error=str(exc), needs_reference=True)
    logger.error("%s job failed", kind, exc_info=exc)
    return result_type(error=f"{kind} model error: {type(exc).__name__}: {exc}")


class RunnerInfo(BaseModel):
    """What the API service reports on /health and checks before sending a job."""

    model: str = Field("original", description="The Chatterbox model this runner serves (VC: the original's S3Gen).")
    model_source: str
    device: str
    dtype: str = Field("float32", description="What T3 and S3Gen's flow compute in (`model.dtype`).")
    model_location: str | None
    has_default_voice: bool
    sample_rate: int
    conditioning_cache_entries: int
    conditioning_cache_hits: int
    conditioning_cache_misses: int
    references_from_storage: int = Field(0, description="Voice references this runner read from storage on a conditioning-cache miss.")
    references_sent: int = Field(0, description="Voice references the API had to send with a job (the runner could not read them itself).")
    tags: list[str] = Field(default_factory=list, description="The paralinguistic tags the model performs (its tokenizer's added tokens; turbo only).")
    jobs_done: int = Field(0, description="Jobs this runner process finished since it started (failed ones included).")
    decoding_jobs: int | None = Field(None, description="Jobs in the model's T3 loop now (TTS runners; None for VC).")
    queued_jobs: int | None = Field(None, description="Jobs waiting to join the T3 loop at its next step (TTS runners; None for VC).")
    kv_cache: str | None = Field(None, description="Where the T3 loop keeps its keys and values: static or dynamic (`model.kv_cache`; None for VC).")
    cuda_graphs: bool | None = Field(None, description="Whether T3's decode steps replay as CUDA graphs (`model.cuda_graphs`, and no capture failed; None for VC).")
    memory_rss_bytes: int = Field(0, description="Resident memory of the runner process.")
    gpu_memory_allocated_bytes: int | None = Field(None, description="GPU memory PyTorch holds now on the model's device (None when the model runs on the CPU).")
    gpu_memory_peak_bytes: int | None = Field(None, description="Most GPU memory PyTorch held since the runner started.")
