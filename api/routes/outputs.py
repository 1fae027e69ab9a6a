"""The outputs browser: search, filter, sort and page generated files, bulk lookups,
downloads (whole, a byte range, or HEAD), deletes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from api.dependencies import ServingDep
from api.errors import validated
from api.protocol import DeletedOutput, ErrorResponse, OutputListResponse, OutputLookupRequest, OutputLookupResponse
from api.routes.responses import AUDIO_RESPONSE, ERRORS
from contract.paging import MAX_PAGE
from outputs.query import MAX_PAGE_SIZE, OutputListQuery, OutputSortKey
from outputs.store import OutputType

router = APIRouter()

_NAIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def as_utc(moment: str | None) -> str | None:
    """A bare date or a time without an offset is read as UTC (dates and times compare)."""
    if moment is None or not _NAIVE_TIME.match(moment):
        return moment
    return moment + ("T00:00:00Z" if len(moment) == 10 else "Z")


def output_query_of(
    search: str | None = Query(None, description="Words that must all appear in the file name or the metadata's text (case-insensitive)."),
    type: list[OutputType] = Query([], description="Repeatable: tts, vc, concat."),
    voice: str | None = Query(None, description="Only outputs made with this voice."),
    created_after: str | None = Query(None, description="ISO 8601 time or date (UTC when no offset is given)."),
    created_before: str | None = Query(None, description="ISO 8601 time or date: outputs created before it."),
    names: list[str] = Query([], description="Repeatable: bulk lookup of these file names."),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
    sort: OutputSortKey = Query("created"),
    order: Literal["asc", "desc"] = Query("desc"),
) -> OutputListQuery:
    data = {
        "search": search, "types": type, "voice": voice, "created_after": as_utc(created_after), "created_before": as_utc(created_before),
        "names": names, "page": page, "page_size": page_size, "sort": sort, "order": order,
    }
    return validated(OutputListQuery, data, "query", aliases={"types": "type"})


@router.get("/api/v1/outputs", response_model=OutputListResponse, responses=ERRORS)
async def list_outputs(serving: ServingDep, query: Annotated[OutputListQuery, Depends(output_query_of)]) -> OutputListResponse:
    """Browse generated files (queries on the metadata database): search, filters, sort,
    pages; with `names`, a bulk lookup that also says which names are missing."""
    return await serving.outputs.list(query)


@router.post("/api/v1/outputs/lookup", response_model=OutputLookupResponse, responses=ERRORS)
async def lookup_outputs(serving: ServingDep, body: OutputLookupRequest) -> OutputLookupResponse:
    """Bulk lookup for lists too long for a URL: the companions of the named outputs."""
    return await serving.outputs.lookup(body.names)


@router.api_route(
    "/api/v1/outputs/{filename}", methods=["GET", "HEAD"], name="download_output", operation_id="download_output",
    responses={**ERRORS, 200: AUDIO_RESPONSE, 206: AUDIO_RESPONSE, 416: {"model": ErrorResponse}},
)
async def download_output(
    request: Request, serving: ServingDep, filename: str,
    range: str | None = Header(None, description="One byte range, e.g. `bytes=0-1023`: answered with 206 (seeking)."),
) -> Response:
    """Download a stored output, whole or one byte range (HEAD: the headers only)."""
    return await serving.outputs.download(filename, range, head=request.method == "HEAD")


@router.delete("/api/v1/outputs/{filename}", response_model=DeletedOutput, responses=ERRORS)
async def delete_output(serving: ServingDep, filename: str) -> DeletedOutput:
    """Delete an output: its audio and its JSON companion."""
    return await serving.outputs.delete(filename)
