"""The error and audio answers the routes declare in the OpenAPI document."""

from __future__ import annotations

from api.openai_protocol import OpenAIErrorResponse
from api.protocol import DeletionPreview, ErrorResponse
from contract.formats import OutputFormat

ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 422, 429, 500, 503)}  # 401 with API keys on, 429 past a rate limit
VOICE_ERRORS = {**ERRORS, 412: {"model": ErrorResponse}}
DELETE_ERRORS = {**ERRORS, 400: {"model": DeletionPreview | ErrorResponse, "description": "Without confirm=true: what would be deleted (nothing is); or a malformed request."}}
AUDIO_RESPONSE = {"content": {fmt.content_type: {} for fmt in OutputFormat}}  # found by the fuzzer: this listed only the last type
OPENAI_ERRORS = {status: {"model": OpenAIErrorResponse} for status in (400, 401, 404, 429, 500, 503)}
SPEECH_RESPONSE = {
    "description": "The audio, sent while it is generated (chunked); with stream_format=sse, server-sent events.",
    "content": {content_type: {} for content_type in ("audio/mpeg", "audio/opus", "audio/aac", "audio/flac", "audio/wav", "audio/pcm", "text/event-stream")},
}
