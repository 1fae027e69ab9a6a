"""Concatenation and background jobs: `/api/v1/concat` takes JSON, or multipart with the
same JSON in `request` plus uploaded `files` (it reads its body itself, so the OpenAPI
document gets its request body from `api.openapi_components`), and a long one becomes a job
followed at `/api/v1/jobs/{job_id}`."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from api.dependencies import ServingDep
from api.errors import APIError, validated
from api.protocol import JobResponse, OutputResponse
from api.route_policies import route_policy
from api.routes.responses import AUDIO_RESPONSE, ERRORS
from concat.request import ConcatRequest
from config import get_settings

router = APIRouter()

CONCAT_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConcatRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "request": {"type": "string", "description": "The ConcatRequest as JSON; uploads are inputs {\"upload\": <file name or position>}."},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}


def parse_json(text: str, field: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise APIError(400, f"{field}: not valid JSON ({exc})", field=None if field == "body" else field) from None
    if not isinstance(data, dict):
        raise APIError(422, f"{field}: expected a JSON object with `inputs`", field=None if field == "body" else field)
    return data


async def concat_request_of(request: Request) -> tuple[ConcatRequest, list[UploadFile]]:
    """A JSON body, or a multipart form: `request` (the same JSON) plus `files`. A body of up
    to `limits.max_json_bytes` with thousands of inputs is parsed and validated in the
    thread pool, not on the event loop every other request shares."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=get_settings().limits.max_bulk_files, max_fields=20)
        files = [part for part in form.getlist("files") if isinstance(part, StarletteUploadFile)]
        raw = form.get("request")
        if raw is None:
            return validated(ConcatRequest, {"inputs": [{"upload": i} for i in range(len(files))]}, "body"), files
        if not isinstance(raw, str):
            raise APIError(422, "request: send the options as a JSON text field, not a file", field="request")
        return await run_in_threadpool(lambda: validated(ConcatRequest, parse_json(raw, "request"), "body")), files
    if content_type.startswith("application/json"):
        body = await request.body()
        return await run_in_threadpool(lambda: validated(ConcatRequest, parse_json(body.decode(errors="replace"), "body"), "body")), []
    raise APIError(415, "send the request as application/json, or as multipart/form-data with `request` and `files`", error_type="unsupported_media_type")


@router.post(
    "/api/v1/concat", response_model=OutputResponse, status_code=200,
    responses={**ERRORS, 200: AUDIO_RESPONSE, 202: {"model": JobResponse, "description": "A long job: follow it at `url`."}},
    openapi_extra=CONCAT_REQUEST_BODY,
)
@route_policy(idempotent=True, archive_body=True)
async def concat(request: Request, serving: ServingDep) -> Response:
    """Join stored outputs, voices, uploads and silences into one output of type `concat`.
    JSON body, or multipart with the same JSON in a `request` field plus `files` (uploads
    alone, without `request`, are joined in the order sent)."""
    body, files = await concat_request_of(request)
    return await serving.concat.concat(request, body, files)


@router.get("/api/v1/jobs/{job_id}", response_model=JobResponse, responses=ERRORS, name="get_job")
async def get_job(request: Request, serving: ServingDep, job_id: str) -> JobResponse:
    """A background job's status and progress (segments done, percent, time remaining),
    and its output once it succeeded. Any replica answers."""
    return await serving.jobs.job(request, job_id)


@router.delete("/api/v1/jobs/{job_id}", response_model=JobResponse, responses=ERRORS)
async def cancel_job(request: Request, serving: ServingDep, job_id: str) -> JobResponse:
    """Cancel a queued or running job (its temp files are removed; nothing is stored)."""
    return await serving.jobs.cancel(request, job_id)
