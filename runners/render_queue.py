"""S3Gen work on one thread of its own, first renders of requests first.

The work is whole renders (`render` calls) and the windows of streamed chunks
(`models/chunk_stream.py`). A request waits for its own work only (not for every render of
the batch it was decoded in), and S3Gen never holds the threads `info` and `forget` answer
on. The order is first come, first served, except that a request's first render or window
(`first`: the audio a new listener is waiting for) goes before other requests' later chunks
and windows, whose listeners are already hearing earlier ones. Later work can be overtaken
only by requests that arrived while it waited, and admission
(`limits.max_pending_generations`) bounds those.

A render still queued when its caller hangs up (`lifecycle/hangups.py` cancels the awaiting
call, which cancels its future), or when a shutdown's drain ended, is dropped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lifecycle.drain import Drain, ShuttingDownError

T = TypeVar("T")


@dataclass(order=True)
class _Queued:
    later: bool  # False sorts first: a request's first render
    arrival: int
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False, default_factory=Future)


class RenderQueue:
    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._queued: list[_Queued] = []
        self._arrivals = itertools.count()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="s3gen", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], T], first: bool) -> Future[T]:
        """Queues `work` (`first`: a request's first render or window); cancel the future to
        drop it while it waits."""
        queued = _Queued(not first, next(self._arrivals), work)
        with self._wake:
            heapq.heappush(self._queued, queued)
            self._wake.notify()
        return queued.future

    async def run(self, work: Callable[[], T], first: bool) -> T:
        """`work`'s result in its turn; cancelling the caller drops it if it is still queued."""
        with self._drain.working():
            return await asyncio.wrap_future(self.submit(work, first))

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: bool(self._queued))
                queued = heapq.heappop(self._queued)
            if not queued.future.set_running_or_notify_cancel():
                continue  # its caller hung up while it waited
            if self._drain.expired.is_set():
                queued.future.set_exception(ShuttingDownError("render dropped: the runner is shutting down"))
                continue
            try:
                queued.future.set_result(queued.work())
            except BaseException as exc:  # a render reports its failure as its result; a window's is raised to its stream
                queued.future.set_exception(exc)
