"""Request and response models of the /api/v1 HTTP API (the serving logic lives apart)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audio.formats import OutputFormat
from storage.outputs import OutputMetadata
from storage.voices import VoiceRecord

ResponseMode = Literal["url", "stream"]
MAX_TEXT_CHARS = 10_000


class TTSRequest(BaseModel):
    """Unknown fields are rejected, so a typo such as `exageration` is an error, not a default."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Text to speak; long text is split at sentence ends.")
    voice: str | None = Field(None, description="A voice name from the library; omitted: the model's built-in voice.")
    exaggeration: float = Field(0.5, ge=0.25, le=2.0, description="Emotion intensity; 0.5 is neutral.")
    cfg_weight: float = Field(0.5, ge=0.0, le=1.0, description="Classifier-free guidance weight (pace/adherence).")
    temperature: float = Field(0.8, ge=0.05, le=5.0, description="Sampling temperature.")
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
    voice: VoiceRecord
    created: bool


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


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    ready: bool
    version: str
    tts: ModelHealth
    vc: ModelHealth
    storage: StorageHealth
