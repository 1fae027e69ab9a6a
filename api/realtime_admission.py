"""The first part of a `/api/v1/tts/stream` session: reading a client message (parsed,
aliases in our names, refused with the close code its fault calls for) and admitting the
session as an HTTP request is admitted (the `start` message first, the key from the header or
the message, the per-key rate limit), and how a refusal ends a session."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import WebSocket
from pydantic import ValidationError
from starlette.datastructures import Headers

from api.access import AccessRules
from api.errors import APIError
from api.protocol import ErrorDetail
from api.rate_limits import bearer_token
from api.realtime_protocol import CLIENT_MESSAGE, StreamStart, canonical
from api.request_ids import current_request_id
from config import RealtimeSettings

logger = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client closed the connection."""


class SessionClosed(Exception):
    """Ends the session: `error` (when the client can still be told) goes out as an event,
    then the close with `code`."""

    def __init__(self, code: int, error: ErrorDetail | None = None) -> None:
        super().__init__(error.message if error else str(code))
        self.code = code
        self.error = error


def error_detail(message: str, *, field: str | None = None, error_type: str = "invalid_request_error") -> ErrorDetail:
    """An `error` event's body: the HTTP error shape, with this session's request id."""
    return ErrorDetail(type=error_type, message=message, field=field, request_id=current_request_id.get())


def refusal(code: int, message: str, *, field: str | None = None, error_type: str = "invalid_request_error") -> SessionClosed:
    return SessionClosed(code, error_detail(message, field=field, error_type=error_type))


def closed_by(exc: APIError) -> SessionClosed:
    """An HTTP refusal as a WebSocket close: busy or shutting down -> 1013 (try again later),
    other 4xx -> 1008, 5xx -> 1011."""
    code = 1013 if exc.status_code in (429, 503) else 1008 if exc.status_code < 500 else 1011
    return refusal(code, exc.message, field=exc.field, error_type=exc.error_type)


async def receive_message(websocket: WebSocket, configured: RealtimeSettings, timeout: float) -> object:
    """The next client message, parsed (aliases in our names)."""
    message = await asyncio.wait_for(websocket.receive(), timeout)
    if message["type"] == "websocket.disconnect":
        raise ClientGone
    if message.get("text") is None:
        raise refusal(1003, "binary frames carry the server's audio only: send JSON text frames", field="message")
    text: str = message["text"]
    if len(text.encode()) > configured.max_message_bytes:
        raise refusal(1009, f"a message may hold at most {configured.max_message_bytes} bytes (realtime.max_message_bytes): send text in smaller pieces", field="message")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise refusal(1003, "a message must be a JSON object such as {\"type\": \"text\", \"text\": \"Hello\"}", field="message") from None
    try:
        return CLIENT_MESSAGE.validate_python(canonical(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "type"
        raise refusal(1008, f"{where}: {first['msg']} (types: start, text, flush, cancel, end)", field=where) from None

async def admit(websocket: WebSocket, access: AccessRules, configured: RealtimeSettings, deadline: float) -> StreamStart:
    """The `start` message, its key and the rate limit checked as on HTTP."""
    scope = websocket.scope
    address = access.address(scope)
    if access.keyed and (await access.failures.wait_needed(address)):
        raise refusal(1008, "too many connections with a missing or wrong API key from this address; wait and retry with a valid key", error_type="rate_limit_exceeded")
    try:
        start = await receive_message(websocket, configured, min(configured.idle_seconds, deadline - time.monotonic()))
    except TimeoutError:
        raise refusal(1008, "no start message came: send {\"type\": \"start\", ...} first", field="type") from None
    if not isinstance(start, StreamStart):
        raise refusal(1008, "the first message must be {\"type\": \"start\", ...} (the voice, model and format)", field="type")
    header = bearer_token(Headers(scope=scope))
    token = header if access.authorized(header) else start.api_key
    if access.keyed and not access.authorized(token):
        await access.failures.take(address)
        logger.info("realtime session refused: missing or wrong API key")
        raise refusal(1008, "a valid API key is required: send `Authorization: Bearer <key>`, or \"api_key\" in the start message", field="api_key", error_type="invalid_api_key")
    if access.requests is not None and await access.requests.take(access.client(scope, token)):
        raise refusal(1013, f"rate limit: at most {access.requests.rate:g} requests per second after a burst of {access.requests.burst}; retry later", error_type="rate_limit_exceeded")
    return start
