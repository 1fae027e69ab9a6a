"""Serving the outputs browser: listing, bulk lookup, deletion and (ranged) downloads."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from api.errors import APIError, error_response
from api.protocol import DeletedOutput, OutputListResponse, OutputLookupResponse, OutputResponse
from api.ranges import RangeNotSatisfiableError, parse_range
from config import OutputSettings
from contract.formats import CONTENT_TYPE_BY_EXTENSION
from outputs.library import OutputLibrary, OutputNotFoundError
from outputs.query import OutputListQuery
from outputs.store import OutputMetadata
from storage import ObjectNotFoundError


def not_found(filename: str, field: str = "filename") -> APIError:
    return APIError(404, f"{field}: no output named {filename!r} (see GET /api/v1/outputs)", field=field, error_type="not_found")


def output_body(request: Request, metadata: OutputMetadata) -> OutputResponse:
    """Where the stored file is and what it is."""
    url = str(request.url_for("download_output", filename=metadata.filename))
    return OutputResponse(filename=metadata.filename, url=url, metadata=metadata)


def output_response(request: Request, metadata: OutputMetadata) -> JSONResponse:
    """The `response_mode=url` answer."""
    return JSONResponse(output_body(request, metadata).model_dump(mode="json"))


class FileDownload(FileResponse):
    """Starlette's file sending (HEAD without reading, single and multiple ranges,
    Last-Modified and ETag) with two things kept from before: a Range header we do not serve
    (malformed, or a syntax we ignore) gets the whole file rather than Starlette's 400, and
    the file is opened before the answer starts, so an output deleted meanwhile is a 404
    and one deleted mid-download is still sent whole (the open file outlives its name)."""

    def __init__(self, path: Path, *, use_range: bool, not_found: Response, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.use_range = use_range
        self.not_found = not_found
        self._file: anyio.AsyncFile[bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.use_range:
            scope = {**scope, "headers": [(name, value) for name, value in scope["headers"] if name != b"range"]}
        try:
            self._file = await anyio.open_file(self.path, mode="rb")
        except FileNotFoundError:
            await self.not_found(scope, receive, send)
            return
        try:
            self.stat_result = os.fstat(self._file.wrapped.fileno())
            self.set_stat_headers(self.stat_result)
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._file.aclose()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        """The file opened in `__call__` (which closes it), not the path opened again."""
        assert self._file is not None
        yield self._file


class OutputServing:
    def __init__(self, library: OutputLibrary, settings: OutputSettings) -> None:
        self.library = library
        self.settings = settings

    async def list(self, query: OutputListQuery) -> OutputListResponse:
        items, total, missing = await run_in_threadpool(self.library.list, query)
        return OutputListResponse.of(items, total, query, missing=missing)

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
        may seek. A HEAD request gets the same headers without the object ever being read.
        Local files go out through the web server's file sending; S3 objects are proxied,
        or with `outputs.download_mode: redirect` fetched by the client from a presigned URL."""
        storage = self.library.store.storage
        try:
            key = self.library.store.audio_key(filename)
            size = await run_in_threadpool(storage.size, key)
        except ObjectNotFoundError:
            raise not_found(filename) from None
        media_type = CONTENT_TYPE_BY_EXTENSION.get(filename.rsplit(".", 1)[-1], "application/octet-stream")
        headers = {"Accept-Ranges": "bytes", "Content-Disposition": f'{disposition}; filename="{filename}"', "X-Output-Filename": filename}
        try:
            window = parse_range(range_header, size)
        except RangeNotSatisfiableError:
            response = error_response(416, "range_not_satisfiable", f"Range {range_header!r} lies outside the file ({size} bytes)", "Range")
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        if self.settings.download_mode == "redirect" and not head:  # a presigned GET URL does not answer HEAD: that stays here
            url = await run_in_threadpool(
                partial(storage.download_url, key, seconds=self.settings.redirect_seconds, filename=filename, content_type=media_type, disposition=disposition)
            )
            if url is not None:
                return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store", "X-Output-Filename": filename})
        if (path := storage.local_path(key)) is not None:
            return FileDownload(path, use_range=window is not None, not_found=not_found(filename).response(), media_type=media_type, headers=headers)
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
