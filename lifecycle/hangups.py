"""Noticing that an HTTP caller hung up, for work that should then stop.

uvicorn never cancels a request's task when its client goes away, and silently drops what is
written to a closed connection, so a handler learns of a hang-up only by reading the ASGI
channel: once the body has been read, the next message is `http.disconnect`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client hangs up (call once its body was read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_hung_up(work: Awaitable[T], request: Request, hung_up: Callable[[], T]) -> T:
    """`work`'s result; or, when the caller hangs up first, `work` cancelled and `hung_up()`
    answered (to nobody: the connection is gone, but the handler ends normally)."""
    task = asyncio.ensure_future(work)
    watch = asyncio.create_task(wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        logger.info("caller hung up: its work was cancelled", extra={"path": request.url.path})
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return hung_up()
    finally:
        for pending in (task, watch):
            pending.cancel()
