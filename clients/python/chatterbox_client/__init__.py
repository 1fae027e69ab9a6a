"""Python SDK for the Chatterbox TTS Extended Plus server: `Client`, `AsyncClient`, the API's
models (`chatterbox_client.models`) and typed errors (`chatterbox_client.errors`)."""

from chatterbox_client.client import AsyncClient, Client
from chatterbox_client.errors import (
    AuthenticationError,
    BadRequestError,
    ChatterboxError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
)
from chatterbox_client.realtime import AsyncLiveSpeech, LiveSpeech

__all__ = [
    "AsyncClient", "AsyncLiveSpeech", "AuthenticationError", "BadRequestError", "ChatterboxError", "Client", "ConflictError", "ConnectionFailed", "LiveSpeech", "NotFoundError",
    "PayloadTooLargeError", "RateLimitError", "ServerError", "ServiceUnavailableError",
]
