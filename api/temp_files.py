"""A response that sends a file from a temp folder and removes the folder however it ends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send


class TempFileResponse(FileResponse):
    """Starlette's FileResponse (Content-Length, HEAD, ranges), then `folder` removed: after
    the last byte, and also when the client left first (where a background task would not run)."""

    def __init__(self, path: Path, folder: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await run_in_threadpool(shutil.rmtree, self.folder, True)
