"""Request and response models of the OpenAI-compatible routes (`/v1/...`), shaped as
OpenAI's API sends and takes them so its official SDKs work unchanged."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract.formats import OutputFormat
from contract.parameters import DEFAULT_EXAGGERATION, CFGWeight, Exaggeration, Seed, SpeedFactor, Temperature

MAX_INPUT_CHARS = 4096  # OpenAI's limit
OPENAI_CONTENT_TYPES = {OutputFormat.opus: "audio/opus"}  # the others are the same as /api/v1's


class VoiceID(BaseModel):
    """The object form of `voice`: `{"id": "..."}` (OpenAI's custom voices)."""

    id: str = Field(min_length=1, max_length=256)


class SpeechRequest(BaseModel):
    """OpenAI's `CreateSpeechRequest`, plus Chatterbox's own optional parameters."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1, description="A name GET /v1/models lists: `tts-1` (Chatterbox-Turbo), `tts-1-hd`, `gpt-4o-mini-tts`, `chatterbox` (the original), `chatterbox-turbo`, `chatterbox-multilingual` (`openai.model_map`)."
    )
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, description="The text to speak.")
    voice: str | VoiceID = Field(description="A library voice, an alias such as `alloy`, a predefined voice file; see GET /v1/audio/voices.")
    instructions: str | None = Field(None, max_length=MAX_INPUT_CHARS, description="Accepted and recorded in the output's metadata; Chatterbox has no prompt for delivery: use `exaggeration`.")
    response_format: OutputFormat = Field(OutputFormat.mp3, description="mp3, opus, aac, flac, wav, or pcm (raw 24 kHz 16-bit little-endian mono).")
    speed: SpeedFactor | None = Field(None, description="0.25..4.0, pitch kept; omitted: the voice's default, else 1.0.")
    stream_format: Literal["audio", "sse"] = Field("audio", description="`audio`: the audio bytes, sent as they are generated; `sse`: server-sent events with base64 audio.")
    exaggeration: Exaggeration | None = Field(None, description=f"Chatterbox extension: emotion intensity; omitted: the voice's default, else {DEFAULT_EXAGGERATION}.")
    cfg_weight: CFGWeight | None = Field(None, description="Chatterbox extension: classifier-free guidance weight.")
    temperature: Temperature | None = Field(None, description="Chatterbox extension: sampling temperature.")
    seed: Seed | None = Field(None, description="Chatterbox extension: same seed, same audio.")
    language: str | None = Field(None, pattern="^[a-z]{2}$", description="Chatterbox extension: ISO 639-1 language of `input` (chatterbox-multilingual speaks 23); omitted: en.")

    @field_validator("input")
    @classmethod
    def _has_words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("input must contain something to say, not only whitespace")
        return text

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceID) else self.voice


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="Unix time; the same for every model (the service's release).")
    owned_by: str = "chatterbox"
    root: str = Field(description="The Chatterbox model this name runs: original, multilingual or turbo (as vLLM's model cards name theirs).")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


OPENAI_VOICE_NAMES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage", "shimmer", "verse")  # as the openai package lists them


class VoiceEntry(BaseModel):
    id: str = Field(description="What to send as `voice`.")
    name: str
    source: Literal["library", "alias", "predefined", "default"]
    resolves_to: str | None = Field(None, description="For an alias: the library voice it speaks with; for an OpenAI voice name (`default`): `openai.default_voice`.")


class VoiceListing(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoiceEntry]
    fallback: str | None = Field(description="What any other name speaks with (`builtin`: the model's own voice); null: other names are refused.")


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorDetail


class SpeechUsage(BaseModel):
    input_tokens: int = Field(description="Text tokens read by the model.")
    output_tokens: int = Field(description="Speech tokens generated (25 per second of audio).")
    total_tokens: int


class SpeechAudioDelta(BaseModel):
    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str = Field(description="Base64 of the next bytes of audio in `response_format`.")


class SpeechAudioDone(BaseModel):
    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: SpeechUsage
