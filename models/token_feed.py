"""A streamed request's speech tokens as the T3 loop decodes them, for the coroutine that
renders its windows.

The loop's thread offers the request's place in the loop after every step
(`DecodeScheduler`), but wakes the coroutine only when the count it waits for is reached:
one comparison per step otherwise, so a loop full of streamed rows pays nothing for them.
The window itself reads the tokens when S3Gen starts it (`latest`), so a window that waited
in S3Gen's queue takes everything decoded meanwhile. The tokens only ever grow (a row's
sampler appends), so each window's tokens begin with the previous window's.
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import Future

from torch import Tensor

from models.t3_loop import LoopRequest


class TokenFeed:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._wanted: float = math.inf
        self._entry: LoopRequest | None = None

    def offer(self, entry: LoopRequest) -> None:
        """The loop's thread, after a step the request is still decoding in."""
        self._entry = entry
        if len(entry.sampler.tokens) >= self._wanted:
            self._wanted = math.inf
            self._loop.call_soon_threadsafe(self._ready.set)

    def watch(self, future: Future[Tensor]) -> None:
        """Wake the coroutine when the request stops (or fails, or is cancelled)."""
        future.add_done_callback(lambda _: self._loop.call_soon_threadsafe(self._ready.set))

    async def reached(self, count: int, future: Future[Tensor]) -> None:
        """Returns once `count` tokens are decoded, or the request stopped."""
        self._ready.clear()
        self._wanted = count
        if self._entry is not None and len(self._entry.sampler.tokens) >= count:
            return
        if not future.done():
            await self._ready.wait()

    def latest(self, future: Future[Tensor]) -> tuple[list[int], bool]:
        """Every token decoded so far, and whether that is all of them (raising the
        request's error if it failed). Any thread: a snapshot of the sampler's list."""
        if future.done():
            return future.result().tolist(), True
        assert self._entry is not None, "asked before the request decoded anything"
        return self._entry.tokens.tolist(), False  # torch.cat copies the growing list in one call
