"""A streamed request's speech tokens as the T3 loop decodes them, for the coroutine that
renders its windows.

The loop's thread offers the request's state after every step (`DecodeScheduler`), but
copies its tokens and wakes the coroutine only when the count it waits for is reached: one
comparison per step otherwise, so a loop full of streamed rows pays nothing for them. The
tokens only ever grow (a row's sampler appends), so each window's tokens begin with the
previous window's.
"""

from __future__ import annotations

import asyncio
import math
import threading
from concurrent.futures import Future

from torch import Tensor

from models.t3_loop import LoopRequest


class TokenFeed:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._lock = threading.Lock()
        self._wanted: float = math.inf
        self._tokens: list[int] = []

    def offer(self, entry: LoopRequest) -> None:
        """The loop's thread, after a step the request is still decoding in."""
        if len(entry.sampler.tokens) < self._wanted:
            return
        tokens = entry.tokens.tolist()
        with self._lock:
            self._tokens, self._wanted = tokens, math.inf
        self._loop.call_soon_threadsafe(self._ready.set)

    def watch(self, future: Future[Tensor]) -> None:
        """Wake the coroutine when the request stops (or fails, or is cancelled)."""
        future.add_done_callback(lambda _: self._loop.call_soon_threadsafe(self._ready.set))

    async def tokens(self, count: int, future: Future[Tensor]) -> tuple[list[int], bool]:
        """The first `count` tokens, with False; or every token with True once the request
        stopped with no more than `count` (raising its error if it failed). Never more than
        `count` otherwise, however far it got meanwhile: windows end at the same tokens
        every time, and the same seed streams the same audio."""
        with self._lock:
            self._ready.clear()
            self._wanted = count
        if not future.done():
            await self._ready.wait()
        if future.done():
            tokens = future.result().tolist()
            return (tokens[:count], False) if len(tokens) > count else (tokens, True)
        with self._lock:
            return self._tokens[:count], False
