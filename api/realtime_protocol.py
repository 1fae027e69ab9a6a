"""The messages of `/api/v1/tts/stream`, the WebSocket that takes text as it is written
(the session that serves them lives in `api.realtime_serving`; docs/realtime.md has the table).

Client messages are JSON text frames told apart by `type`. OpenAI's Realtime API has no
text-in, audio-out event set of its own (it is a conversation API), so the aliases accepted
are the event names the TTS WebSockets modelled on it use: `session.update` for `start`
(its settings under `session`), `input_text_buffer.append` / `.commit` (Together AI) and
`input_text.append` / `.flush` / `.end` (Mistral) for text, flush and end, and OpenAI
Realtime's own `response.cancel` for cancel.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from api.protocol import MAX_TEXT_CHARS, ErrorDetail, SpeechParameters

StreamFormat = Literal["pcm", "opus", "mp3", "wav"]

EVENT_ALIASES = {
    "session.update": "start",
    "input_text_buffer.append": "text",
    "input_text.append": "text",
    "input_text_buffer.commit": "flush",
    "input_text.flush": "flush",
    "input_text.end": "end",
    "response.cancel": "cancel",
}


class StreamStart(SpeechParameters):
    type: Literal["start"]
    response_format: StreamFormat = Field("pcm", description="`pcm`: 16-bit little-endian mono at `sample_rate`, no header; `wav` starts with a header of unknown length; `opus` in Ogg; `mp3`.")
    api_key: str | None = Field(None, description="The API key, for clients that cannot set the `Authorization` header (browsers).")
    store: bool = Field(True, description="Keep what was spoken as one output (named in the `done` event).")


class StreamText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT_CHARS, description="More text, cut anywhere (even inside a word).")


class StreamFlush(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["flush"]


class StreamCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["cancel"]


class StreamEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["end"]


ClientMessage = Annotated[StreamStart | StreamText | StreamFlush | StreamCancel | StreamEnd, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def canonical(message: Any) -> Any:
    """An aliased message in our names: `session.update`'s settings come out of `session`."""
    if not isinstance(message, dict) or message.get("type") not in EVENT_ALIASES:
        return message
    kind = EVENT_ALIASES[message["type"]]
    if kind == "start":
        session = message.get("session", {})
        return {**session, "type": "start"} if isinstance(session, dict) else message
    return {**message, "type": kind}


class StartedEvent(BaseModel):
    """The start was accepted: what will be spoken with and how the audio comes."""

    type: Literal["started"] = "started"
    model: str
    voice: str | None
    language: str
    response_format: StreamFormat
    sample_rate: int
    output: str | None = Field(description="The name the stored output will have (when `store`).")


class SentenceEvent(BaseModel):
    """One sentence spoken: where it lies in the stream's audio (seconds from its start,
    after the pause before it, placed by the service)."""

    type: Literal["sentence"] = "sentence"
    index: int
    text: str
    start: float
    end: float


class CancelledEvent(BaseModel):
    """Generation stopped and the buffered text dropped; audio after this event is new text's."""

    type: Literal["cancelled"] = "cancelled"
    dropped_sentences: int
    dropped_chars: int


class DoneEvent(BaseModel):
    type: Literal["done"] = "done"
    output: str | None
    duration: float
    sentences: int


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    error: ErrorDetail


DOCUMENTED = (StreamStart, StreamText, StreamFlush, StreamCancel, StreamEnd, StartedEvent, SentenceEvent, CancelledEvent, DoneEvent, ErrorEvent)
