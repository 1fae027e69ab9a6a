"""Typed exceptions, one per error category of the API (docs/errors.md), each carrying what
the server said: status, `type`, message, the field at fault and the request id to quote."""

from __future__ import annotations

import httpx


class ChatterboxError(Exception):
    """Anything the server refused or failed at (`status` None: it could not be reached)."""

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None, field: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message if request_id is None else f"{message} [request_id={request_id}]")
        self.message = message
        self.status = status
        self.error_type = error_type
        self.field = field
        self.request_id = request_id


class ConnectionFailed(ChatterboxError):
    """The server did not answer (refused, reset, timed out) after the retries."""


class BadRequestError(ChatterboxError):
    """400 or 422: a field out of range, unusable audio, an unknown tag... `field` names it."""


class AuthenticationError(ChatterboxError):
    """401: the server has API keys and this one is missing or wrong."""


class NotFoundError(ChatterboxError):
    """404: no such voice, output, job or route."""


class ConflictError(ChatterboxError):
    """409 (a voice of that name exists) or 412 (the voice changed since its ETag)."""


class PayloadTooLargeError(ChatterboxError):
    """413: the body or a file is over the server's limit."""


class RateLimitError(ChatterboxError):
    """429: the server is at its generation limit (raised once the retries are spent)."""


class ServerError(ChatterboxError):
    """500: the model or a processing step failed; the server logged why under `request_id`."""


class ServiceUnavailableError(ChatterboxError):
    """503: a model runner or the storage is down, or the server is shutting down."""


_BY_STATUS: dict[int, type[ChatterboxError]] = {
    400: BadRequestError, 422: BadRequestError, 401: AuthenticationError, 404: NotFoundError, 409: ConflictError, 412: ConflictError,
    413: PayloadTooLargeError, 429: RateLimitError, 503: ServiceUnavailableError,
}


def error_from(response: httpx.Response) -> ChatterboxError:
    """The exception for a failed answer, in our error shape or OpenAI's."""
    try:
        detail = response.json().get("error") or {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    kind = _BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ChatterboxError)
    return kind(
        str(detail.get("message") or response.reason_phrase or f"HTTP {response.status_code}"),
        status=response.status_code,
        error_type=detail.get("type") or detail.get("code"),
        field=detail.get("field") or detail.get("param"),
        request_id=detail.get("request_id") or response.headers.get("x-request-id"),
    )


_BY_TYPE: dict[str, type[ChatterboxError]] = {
    "invalid_api_key": AuthenticationError, "not_found": NotFoundError, "rate_limit_exceeded": RateLimitError, "model_error": ServerError,
    "processing_error": ServerError, "shutting_down": ServiceUnavailableError, "service_unavailable": ServiceUnavailableError,
}


def error_from_event(detail: dict) -> ChatterboxError:
    """The exception for a WebSocket `error` event (it has no status: its `type` decides)."""
    kind = _BY_TYPE.get(str(detail.get("type")), BadRequestError)
    return kind(str(detail.get("message")), error_type=detail.get("type"), field=detail.get("field"), request_id=detail.get("request_id"))
