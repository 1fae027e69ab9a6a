"""One streamed chunk's audio windows, read from its runner by a task of its own.

The task starts when the chunk is opened, so the next chunk is decoded and rendered while
this one is being heard; what it reads waits here until the response takes it (at most one
chunk's audio). The response starts only once the first chunk's first window is here
(`ready`), so a failure before any audio still gets its proper status.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from api.runner_calls import Window
from contract.stream_frames import WindowFrame

_END = object()


class ChunkWindows:
    def __init__(self, frames: AsyncIterator[Window]) -> None:
        self.totals = WindowFrame()  # the chunk's last frame (its token counts), once read
        self._items: deque[Any] = deque()
        self._arrived = asyncio.Event()
        self.task = asyncio.create_task(self._pull(frames))

    def _put(self, item: Any) -> None:
        self._items.append(item)
        self._arrived.set()

    async def _pull(self, frames: AsyncIterator[Window]) -> None:
        try:
            async for header, samples in frames:
                if header.last:
                    self.totals = header
                else:
                    self._put(samples)
        except Exception as exc:  # raised to the response where it reads
            self._put(exc)
        else:
            self._put(_END)

    async def _peek(self) -> Any:
        while not self._items:
            self._arrived.clear()
            await self._arrived.wait()
        item = self._items[0]
        if isinstance(item, BaseException):
            raise item
        return item

    async def ready(self) -> None:
        """Returns when the first window is here (or the chunk ended without audio);
        raises the chunk's failure."""
        await self._peek()

    async def windows(self) -> AsyncIterator[np.ndarray]:
        """The chunk's windows in order, as they arrive."""
        while (item := await self._peek()) is not _END:
            self._items.popleft()
            yield item

    async def close(self) -> None:
        """Stops reading from the runner (which takes the chunk out of its loop); a reader
        still iterating `windows` ends there."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self._put(_END)
