"""One error shape for every failure: ``{"error": {"type", "message", "field"}}``, and on
the OpenAI-compatible routes (`/v1/...`) OpenAI's own, ``{"error": {"message", "type",
"param", "code"}}`` with OpenAI's statuses (400 for invalid parameters), so its SDKs raise
the exception their users already catch.

Client mistakes name the field and the fix; server-side failures (storage down, model
error) are logged with their cause and answered with a 5xx, and the service keeps serving.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.openai_protocol import OpenAIErrorDetail, OpenAIErrorResponse
from api.protocol import ErrorDetail, ErrorResponse
from api.request_ids import HEADER as REQUEST_ID_HEADER
from api.request_ids import current_request_id
from db import DatabaseUnavailableError
from lifecycle.drain import ShuttingDownError
from storage import StorageError

logger = logging.getLogger(__name__)


class APIError(Exception):
    """`extra` adds top-level keys beside `error` (a delete's dry-run report, for example)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        field: str | None = None,
        error_type: str = "invalid_request_error",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field
        self.error_type = error_type
        self.extra = extra or {}
        self.headers = headers

    def response(self, *, openai: bool = False) -> JSONResponse:
        """This error as its JSON answer (ours, or OpenAI's shape)."""
        return error_response(self.status_code, self.error_type, self.message, self.field, self.extra, openai=openai, headers=self.headers)


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def _openai_type(status_code: int) -> str:
    if status_code == 429:
        return "requests"  # what OpenAI sends for request-rate limits
    return "server_error" if status_code >= 500 else "invalid_request_error"


def error_response(
    status_code: int, error_type: str, message: str, field: str | None = None, extra: dict[str, Any] | None = None,
    *, openai: bool = False, headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Our shape, or with `openai` OpenAI's: `error_type` becomes its `code` (None for plain
    invalid requests) and its `type` follows the status. The request id goes in the header
    (where OpenAI's SDKs read it) and, in our shape, in the body too."""
    request_id = current_request_id.get()
    headers = (headers or {}) | ({REQUEST_ID_HEADER: request_id} if request_id else {})
    if openai:
        code = None if error_type == "invalid_request_error" else error_type
        detail = OpenAIErrorDetail(message=message, type=_openai_type(status_code), param=field, code=code)
        return JSONResponse(OpenAIErrorResponse(error=detail).model_dump(), status_code=status_code, headers=headers)
    body = ErrorResponse(error=ErrorDetail(type=error_type, message=message, field=field, request_id=request_id))
    return JSONResponse(body.model_dump() | (extra or {}), status_code=status_code, headers=headers)


def validated(model: type[BaseModel], data: dict[str, Any], location: str, aliases: dict[str, str] | None = None) -> Any:
    """`model` built from request parts FastAPI cannot bind to a model itself (form fields,
    repeated query parameters); failures become the usual 422 naming the field as sent."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        names = aliases or {}
        errors = [{**error, "loc": (location, *(names.get(str(part), part) for part in error["loc"]))} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _field_of(loc: tuple) -> str | None:
    """The field as the client named it: list positions dropped (`tag`, not `tag.1`), and a
    tagged union's tag merged with the field it names (`inputs.voice`, not `inputs.voice.voice`)."""
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "form", "header") and not isinstance(part, int)]
    merged = [part for index, part in enumerate(parts) if index == 0 or part != parts[index - 1]]
    return ".".join(merged) or None


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return exc.response(openai=is_openai_path(request.url.path))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Unknown routes and methods answer in the same shape as everything else."""
    error_type = "not_found" if exc.status_code == 404 else "invalid_request_error"
    message = f"no route {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, error_type, message, openai=is_openai_path(request.url.path))


# pydantic's error types as OpenAI's codes
_OPENAI_CODES = {"missing": "missing_required_parameter", "extra_forbidden": "unknown_parameter", "string_too_long": "string_above_max_length"}


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    field = _field_of(tuple(first.get("loc", ())))
    messages = [f"{_field_of(tuple(e.get('loc', ()))) or 'request'}: {e.get('msg')}" for e in exc.errors()]
    if is_openai_path(request.url.path):  # OpenAI answers invalid parameters with 400, never 422
        return error_response(400, _OPENAI_CODES.get(first.get("type", ""), "invalid_value"), "; ".join(messages), field, openai=True)
    return error_response(422, "invalid_request_error", "; ".join(messages), field)


async def _storage_error(request: Request, exc: StorageError) -> JSONResponse:
    logger.error("storage failure on %s %s [request_id=%s]: %s", request.method, request.url.path, current_request_id.get(), exc)
    return error_response(503, "storage_unavailable", "storage backend failed; try again later", openai=is_openai_path(request.url.path))


async def _database_error(request: Request, exc: DatabaseUnavailableError) -> JSONResponse:
    """Logged where it happened (db.engine); the next request tries a fresh connection."""
    return error_response(503, "database_unavailable", "the metadata database is unavailable; try again later", openai=is_openai_path(request.url.path))


async def _shutting_down(request: Request, exc: ShuttingDownError) -> JSONResponse:
    logger.warning("request cut by the shutdown drain: %s %s [request_id=%s]", request.method, request.url.path, current_request_id.get())
    message = "the server shut down before this request finished (shutdown.drain_seconds); retry: another replica will answer"
    return error_response(503, "shutting_down", message, openai=is_openai_path(request.url.path), headers={"Retry-After": "1"})


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug or an unmapped failure: the JSON shape with the request id, the cause in the
    log only (its text could hold paths, keys or internals)."""
    request_id = current_request_id.get()
    logger.error("unhandled error on %s %s [request_id=%s]", request.method, request.url.path, request_id, exc_info=exc)
    message = f"internal error; the service keeps running. Quote request id {request_id} when reporting it"
    return error_response(500, "internal_error", message, openai=is_openai_path(request.url.path))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(DatabaseUnavailableError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ShuttingDownError, _shutting_down)
    app.add_exception_handler(Exception, _unexpected_error)
