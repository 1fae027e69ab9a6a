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
    invalid requests) and its `type` follows the status."""
    if openai:
        code = None if error_type == "invalid_request_error" else error_type
        detail = OpenAIErrorDetail(message=message, type=_openai_type(status_code), param=field, code=code)
        return JSONResponse(OpenAIErrorResponse(error=detail).model_dump(), status_code=status_code, headers=headers)
    body = ErrorResponse(error=ErrorDetail(type=error_type, message=message, field=field))
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
    """The field as the client named it: list positions dropped (`tag`, not `tag.1`)."""
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "form", "header") and not isinstance(part, int)]
    return ".".join(parts) or None


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return error_response(exc.status_code, exc.error_type, exc.message, exc.field, exc.extra, openai=is_openai_path(request.url.path), headers=exc.headers)


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
    logger.error("storage failure", extra={"path": request.url.path, "error": str(exc)})
    return error_response(503, "storage_unavailable", "storage backend failed; try again later", openai=is_openai_path(request.url.path))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
