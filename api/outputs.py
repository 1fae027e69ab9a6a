"""Serving the outputs browser: listing, bulk lookup, deletion and (ranged) downloads."""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.errors import APIError, error_response
from api.protocol import DeletedOutput, OutputListResponse, OutputLookupResponse, OutputResponse
from api.ranges import RangeNotSatisfiableError, parse_range
from audio.formats import CONTENT_TYPE_BY_EXTENSION
from outputs.library import OutputLibrary, OutputNotFoundError
from outputs.query import OutputListQuery
from storage import ObjectNotFoundError
from storage.outputs import OutputMetadata


def not_found(filename: str, field: str = "filename") -> APIError:
    return APIError(404, f"{field}: no output named {filename!r} (see GET /api/v1/outputs)", field=field, error_type="not_found")


def output_body(request: Request, metadata: OutputMetadata) -> OutputResponse:
    """Where the stored file is and what it is."""
    url = str(request.url_for("download_output", filename=metadata.filename))
    return OutputResponse(filename=metadata.filename, url=url, metadata=metadata)


def output_response(request: Request, metadata: OutputMetadata) -> JSONResponse:
    """The `response_mode=url` answer."""
    return JSONResponse(output_body(request, metadata).model_dump(mode="json"))


class OutputServing:
    def __init__(self, library: OutputLibrary) -> None:
        self.library = library

    def _require_index(self) -> None:
        if not self.library.loaded:
            raise APIError(503, "the outputs index is still loading; try again shortly", error_type="index_loading")

    async def list(self, query: OutputListQuery) -> OutputListResponse:
        self._require_index()
        items, total, missing = await run_in_threadpool(self.library.list, query)
        pages = max(1, math.ceil(total / query.page_size))
        return OutputListResponse(items=items, total=total, page=query.page, page_size=query.page_size, pages=pages, missing=missing)

    async def lookup(self, names: list[str]) -> OutputLookupResponse:
        found, missing = await run_in_threadpool(self.library.lookup, names)
        return OutputLookupResponse(items=found, missing=missing)

    async def delete(self, filename: str) -> DeletedOutput:
        try:
            metadata = await run_in_threadpool(self.library.delete, filename)
        except OutputNotFoundError:
            raise not_found(filename) from None
        return DeletedOutput(deleted=filename, metadata=metadata)

    async def download(self, filename: str, range_header: str | None, disposition: str = "inline", *, head: bool = False) -> Response:
        """The file, or the one byte range asked for (206); `Accept-Ranges` tells players they
        may seek. A HEAD request gets the same headers without the object ever being read."""
        storage = self.library.store.storage
        try:
            key = self.library.store.audio_key(filename)
            size = await run_in_threadpool(storage.size, key)
        except ObjectNotFoundError:
            raise not_found(filename) from None
        headers = {"Accept-Ranges": "bytes", "Content-Disposition": f'{disposition}; filename="{filename}"', "X-Output-Filename": filename}
        try:
            window = parse_range(range_header, size)
        except RangeNotSatisfiableError:
            response = error_response(416, "range_not_satisfiable", f"Range {range_header!r} lies outside the file ({size} bytes)", "Range")
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        media_type = CONTENT_TYPE_BY_EXTENSION.get(filename.rsplit(".", 1)[-1], "application/octet-stream")
        if window is not None:
            headers |= {"Content-Range": window.content_range(size)}
        status = 200 if window is None else 206
        headers["Content-Length"] = str(size if window is None else window.length)
        if head:
            return Response(b"", status_code=status, media_type=media_type, headers=headers)
        try:
            if window is None:
                chunks = await run_in_threadpool(storage.iter_bytes, key)
            else:
                chunks = await run_in_threadpool(storage.iter_bytes, key, 1 << 16, window.start, window.length)
        except ObjectNotFoundError:
            raise not_found(filename) from None
        return StreamingResponse(chunks, status_code=status, media_type=media_type, headers=headers)
