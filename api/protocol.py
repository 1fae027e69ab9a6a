"""Request and response models of the /api/v1 HTTP API (the serving logic lives apart)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from audio.speed import SpeedLibrary
from concat.request import JobRecord
from contract.families import ModelName
from contract.formats import SAMPLE_RATES, OutputFormat, check_sample_rate
from contract.paging import COUNT_CAP, SEARCH_COUNT_CAP, Paged
from contract.parameters import CFGWeight, Exaggeration, Seed, SpeedFactor, Temperature
from outputs.query import MAX_NAMES
from outputs.query import MAX_PAGE_SIZE as MAX_OUTPUTS_PAGE_SIZE
from outputs.store import OutputMetadata
from voices.metadata import VoiceMetadata
from voices.query import MAX_PAGE_SIZE

ResponseMode = Literal["url", "stream"]
MAX_TEXT_CHARS = 10_000


class SampleRateField(BaseModel):
    """The `sample_rate` form field of multipart routes, checked like the JSON one."""

    sample_rate: int | None = None

    @field_validator("sample_rate")
    @classmethod
    def _known_rate(cls, rate: int | None) -> int | None:
        return check_sample_rate(rate)


class SpeechParameters(BaseModel):
    """How to speak, whatever brings the text: `/api/v1/tts`'s body and the WebSocket's
    `start` message. Unknown fields are rejected, so a typo such as `exageration` is an
    error, not a default."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName | None = Field(None, description="`original`, `multilingual` or `turbo`, of those the deployment enables (see /api/v1/health); omitted: the configured default.")
    language: str | None = Field(
        None, pattern="^[a-z]{2}$", description="ISO 639-1 code of the text's language: the multilingual model speaks 23, the others `en` only; omitted: `en`."
    )
    voice: str | None = Field(None, description="A voice name from the library; omitted: the model's built-in voice.")
    exaggeration: Exaggeration | None = Field(None, description="Emotion intensity; omitted: the voice's default, else 0.5 (neutral).")
    cfg_weight: CFGWeight | None = Field(None, description="Classifier-free guidance weight (pace/adherence); omitted: the voice's default, else 0.5.")
    temperature: Temperature | None = Field(None, description="Sampling temperature; omitted: the voice's default, else 0.8.")
    seed: Seed | None = Field(None, description="Same seed, same audio; omitted: a random seed, recorded in the metadata.")
    speed_factor: SpeedFactor | None = Field(
        None, description="Speak faster (>1) or slower (<1) at the same pitch; omitted: the voice's default, else the configured one (1.0)."
    )
    speed_factor_library: SpeedLibrary | None = Field(None, description="Time-stretcher: `auto` tries audiostretchy, librosa, torchaudio in turn; omitted: the configured one.")
    sample_rate: int | None = Field(None, description=f"Output sample rate, one of {', '.join(map(str, SAMPLE_RATES))}; omitted: the configured one, else the model's 24000.")

    @field_validator("sample_rate")
    @classmethod
    def _known_rate(cls, rate: int | None) -> int | None:
        return check_sample_rate(rate)


class TTSRequest(SpeechParameters):
    text: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS,
        description="Text to speak; long text is split at sentence ends (in the request's language). `[pause:750ms]` / `[pause:1.5s]` insert silence (any model); tags such as `[laugh]` are performed by the turbo model (an unknown tag is a 400) and removed by the others (listed in the X-Tags-Removed header).",
    )
    output_format: OutputFormat = OutputFormat.wav
    response_mode: ResponseMode = Field("url", description="`url`: JSON with the stored file; `stream`: the audio itself.")
    stream_chunks: bool = Field(
        False, description="With response_mode=stream: send the audio as it is generated, each sentence group in windows (first bytes after about a second of speech is decoded); stored when complete."
    )

    @field_validator("stream_chunks")
    @classmethod
    def _chunks_need_stream(cls, stream_chunks: bool, info: ValidationInfo) -> bool:
        if stream_chunks and info.data.get("response_mode") != "stream":
            raise ValueError("stream_chunks=true needs response_mode=stream")
        return stream_chunks

    @field_validator("text")
    @classmethod
    def _has_words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must contain something to say, not only whitespace")
        return text


class OutputResponse(BaseModel):
    """`response_mode=url`: where the stored file is and what it is."""

    filename: str
    url: str
    metadata: OutputMetadata


class OutputListResponse(Paged):
    items: list[OutputMetadata] = Field(description="The outputs' JSON companions.")
    total: int = Field(description=f"Outputs matching the filters, over all pages: exact up to {COUNT_CAP:,} ({SEARCH_COUNT_CAP:,} with `search`), else the least there are (`total_exact` false).")
    page: int
    page_size: int = Field(le=MAX_OUTPUTS_PAGE_SIZE)
    pages: int
    missing: list[str] = Field([], description="With `names`: the names that are no output.")


class OutputLookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(min_length=1, max_length=MAX_NAMES, description="Output file names.")


class OutputLookupResponse(BaseModel):
    items: list[OutputMetadata] = Field(description="The outputs found, in the order asked.")
    missing: list[str]


class DeletedOutput(BaseModel):
    deleted: str
    metadata: OutputMetadata


class JobResponse(JobRecord):
    """A background job: its progress, and once it succeeded, the output it made."""

    url: str = Field(description="Where to follow it (GET) or cancel it (DELETE).")
    result: OutputResponse | None = None


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None
    request_id: str | None = Field(None, description="Also in the `X-Request-ID` header and the service's log line for this failure: quote it when reporting a problem.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class VoiceResponse(BaseModel):
    """A voice's record; its ETag is also sent in the `ETag` header (use it with If-Match)."""

    voice: VoiceMetadata
    etag: str
    created: bool = False


class VoiceListResponse(Paged):
    items: list[VoiceMetadata]
    total: int = Field(description=f"Voices matching the filters, over all pages: exact up to {COUNT_CAP:,} ({SEARCH_COUNT_CAP:,} with `search`), else the least there are (`total_exact` false).")
    page: int
    page_size: int = Field(le=MAX_PAGE_SIZE)
    pages: int


BulkStatus = Literal["created", "replaced", "failed"]


class BulkVoiceResult(BaseModel):
    filename: str
    name: str | None = Field(description="The voice name taken from the file name (None when none could be made).")
    status: BulkStatus
    error: ErrorDetail | None = None
    voice: VoiceMetadata | None = None


class BulkVoiceResponse(BaseModel):
    results: list[BulkVoiceResult]
    created: int
    replaced: int
    failed: int


class DeletedVoices(BaseModel):
    deleted: list[str]
    count: int


class DeletionPreview(ErrorResponse):
    """The 400 answer to a delete without confirm=true: what it would remove."""

    would_delete: list[str]
    count: int


OnConflict = Literal["skip", "overwrite", "rename"]
ImportStatus = Literal["imported", "overwritten", "renamed", "skipped", "failed"]


class ImportResult(BaseModel):
    name: str
    status: ImportStatus
    imported_as: str | None = None
    error: str | None = None


class ImportResponse(BaseModel):
    results: list[ImportResult]
    counts: dict[ImportStatus, int]


class ModelHealth(BaseModel):
    ready: bool
    model: str | None = Field(None, description="The Chatterbox model the runner serves: original, multilingual or turbo (VC runs the original's S3Gen).")
    source: str | None = None
    device: str | None = None
    dtype: str | None = Field(None, description="What T3 and S3Gen's flow compute in: float32, bfloat16 or float16 (`model.dtype`).")
    has_default_voice: bool | None = None
    tags: list[str] | None = Field(None, description="The paralinguistic tags the model performs in the text (turbo; empty for the others).")
    languages: dict[str, str] | None = Field(None, description="The languages it speaks: ISO 639-1 code -> English name (what `language` accepts).")
    guidance: bool | None = Field(None, description="Whether it honours exaggeration and cfg_weight (turbo ignores them).")
    conditioning_cache_entries: int | None = None
    conditioning_cache_hits: int | None = None
    conditioning_cache_misses: int | None = None
    conditioning_cache_hit_rate: float | None = Field(None, description="hits / (hits + misses) since the runner started; None before the first lookup.")
    references_from_storage: int | None = Field(None, description="Voice references the runner read from storage itself (conditioning-cache misses).")
    references_sent: int | None = Field(None, description="Voice references the API had to send to the runner (voices not in storage, or unreadable there).")
    jobs_done: int | None = Field(None, description="Jobs the runner finished since it started.")
    decoding_jobs: int | None = Field(None, description="Text chunks in the model's continuous T3 loop now (at most runner.max_batch_size); None for VC.")
    queued_jobs: int | None = Field(None, description="Text chunks waiting to join the T3 loop at its next step; None for VC.")
    kv_cache: str | None = Field(None, description="Where the T3 loop keeps its keys and values: static (allocated once) or dynamic (`model.kv_cache`); None for VC.")
    cuda_graphs: bool | None = Field(None, description="Whether T3's decode steps replay as captured CUDA graphs (`model.cuda_graphs` on cuda, and no capture failed); None for VC.")
    memory_rss_bytes: int | None = Field(None, description="Resident memory of the runner process.")
    gpu_memory_allocated_bytes: int | None = Field(None, description="GPU memory PyTorch holds now on the model's device (None when the model runs on the CPU).")
    gpu_memory_peak_bytes: int | None = Field(None, description="Most GPU memory PyTorch held since the runner started.")
    error: str | None = None


class StorageHealth(BaseModel):
    backend: str
    ready: bool
    error: str | None = None


class DatabaseHealth(BaseModel):
    engine: Literal["sqlite", "postgresql"] = Field(description="Where the metadata lives: SQLite (the default, one replica) or PostgreSQL (`DATABASE_URL`).")
    ready: bool = Field(description="The database answers and is migrated to this version's schema; until then reads and writes answer 503 database_unavailable.")
    migration: str = Field(description="The newest migration this version knows (the database is at it when ready).")
    error: str | None = None


class GenerationsHealth(BaseModel):
    in_flight: int = Field(description="TTS/VC requests this replica is generating (or streaming) now; each holds a slot until its last byte is sent.")
    limit: int = Field(description="limits.max_pending_generations: a request beyond it gets 429 (0: no limit).")


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable", "draining"] = Field(description="`draining`: SIGTERM arrived; in-flight work is finishing and no new generation is taken.")
    ready: bool
    version: str
    tts: ModelHealth = Field(description="The default TTS model's runner (`models` has every enabled one).")
    models: dict[str, ModelHealth] = Field(description="Every enabled TTS model's runner, by model name.")
    default_model: str
    vc: ModelHealth
    storage: StorageHealth
    database: DatabaseHealth
    generations: GenerationsHealth
