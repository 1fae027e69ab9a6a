"""Request and response models of the /api/v1 HTTP API (the serving logic lives apart)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audio.formats import OutputFormat
from storage.outputs import OutputMetadata
from voices.metadata import VoiceMetadata
from voices.query import MAX_PAGE_SIZE

ResponseMode = Literal["url", "stream"]
MAX_TEXT_CHARS = 10_000
DEFAULT_EXAGGERATION = 0.5
DEFAULT_CFG_WEIGHT = 0.5
DEFAULT_TEMPERATURE = 0.8


class TTSRequest(BaseModel):
    """Unknown fields are rejected, so a typo such as `exageration` is an error, not a default."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Text to speak; long text is split at sentence ends.")
    voice: str | None = Field(None, description="A voice name from the library; omitted: the model's built-in voice.")
    exaggeration: float | None = Field(None, ge=0.25, le=2.0, description="Emotion intensity; omitted: the voice's default, else 0.5 (neutral).")
    cfg_weight: float | None = Field(None, ge=0.0, le=1.0, description="Classifier-free guidance weight (pace/adherence); omitted: the voice's default, else 0.5.")
    temperature: float | None = Field(None, ge=0.05, le=5.0, description="Sampling temperature; omitted: the voice's default, else 0.8.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Same seed, same audio; omitted: a random seed, recorded in the metadata.")
    output_format: OutputFormat = OutputFormat.wav
    response_mode: ResponseMode = Field("url", description="`url`: JSON with the stored file; `stream`: the audio itself.")

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


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class VoiceResponse(BaseModel):
    """A voice's record; its ETag is also sent in the `ETag` header (use it with If-Match)."""

    voice: VoiceMetadata
    etag: str
    created: bool = False


class VoiceListResponse(BaseModel):
    items: list[VoiceMetadata]
    total: int = Field(description="Voices matching the filters, over all pages.")
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
    source: str | None = None
    device: str | None = None
    has_default_voice: bool | None = None
    conditioning_cache_entries: int | None = None
    error: str | None = None


class StorageHealth(BaseModel):
    backend: str
    ready: bool
    error: str | None = None


class VoiceIndexHealth(BaseModel):
    ready: bool = Field(description="The in-memory voice index has loaded; until then voice listings answer 503.")
    voices: int


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    ready: bool
    version: str
    tts: ModelHealth
    vc: ModelHealth
    storage: StorageHealth
    voice_index: VoiceIndexHealth
