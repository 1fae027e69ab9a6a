"""S3Gen work on one thread of its own, first renders of requests first.

The work is whole renders (`render` calls) and the windows of streamed chunks
(`models/chunk_stream.py`). A request waits for its own work only (not for every render of
the batch it was decoded in), and S3Gen never holds the threads `info` and `forget` answer
on. The order is first come, first served, except that a request's first render or window
(`first`: the audio a new listener is waiting for) goes before other requests' later chunks
and windows, whose listeners are already hearing earlier ones. Later work can be overtaken
only by requests that arrived while it waited, and admission
(`limits.max_pending_generations`) bounds those.

Whole renders (`render`) may run several in one S3Gen pass (`runner.render_batch`, on a GPU):
the render at the head of the queue takes with it, in queue order, the queued renders whose
token counts are within `BUCKET_RATIO` of its own, so a batch pads little. Windows run one at
a time (each carries its chunk's state from the last).

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
BUCKET_RATIO = 1.5  # renders batched together are within this ratio of the head's token count


@dataclass
class Render:
    """A whole render: a job for the batch function, and its length in speech tokens."""

    job: Any
    length: int


@dataclass(order=True)
class _Queued:
    later: bool  # False sorts first: a request's first render
    arrival: int
    work: Callable[[], Any] | Render = field(compare=False)
    future: Future[Any] = field(compare=False, default_factory=Future)


class RenderQueue:
    def __init__(self, drain: Drain, render_batch: Callable[[list[Any]], list[Any]] | None = None, batch_size: int = 1) -> None:
        self._drain = drain
        self._render_batch = render_batch  # whole renders' results, in order
        self.batch_size = batch_size
        self._queued: list[_Queued] = []
        self._arrivals = itertools.count()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="s3gen", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], T] | Render, first: bool) -> Future[T]:
        """Queues `work` (`first`: a request's first render or window); cancel the future to
        drop it while it waits."""
        queued = _Queued(not first, next(self._arrivals), work)
        with self._wake:
            heapq.heappush(self._queued, queued)
            self._wake.notify()
        return queued.future

    async def run(self, work: Callable[[], T] | Render, first: bool) -> T:
        """`work`'s result in its turn; cancelling the caller drops it if it is still queued."""
        with self._drain.working():
            return await asyncio.wrap_future(self.submit(work, first))

    def _mates(self, head: _Queued) -> list[_Queued]:
        """The queued renders that run in one batch with `head`, taken off the queue."""
        if not isinstance(head.work, Render) or self.batch_size == 1:
            return []
        low, high = head.work.length / BUCKET_RATIO, head.work.length * BUCKET_RATIO
        mates = [queued for queued in sorted(self._queued) if isinstance(queued.work, Render) and low <= queued.work.length <= high][: self.batch_size - 1]
        if mates:
            self._queued = [queued for queued in self._queued if all(queued is not mate for mate in mates)]
            heapq.heapify(self._queued)
        return mates

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: bool(self._queued))
                head = heapq.heappop(self._queued)
                group = [head, *self._mates(head)]
            running = [queued for queued in group if queued.future.set_running_or_notify_cancel()]  # the others' callers hung up while they waited
            if not running:
                continue
            if self._drain.expired.is_set():
                for queued in running:
                    queued.future.set_exception(ShuttingDownError("render dropped: the runner is shutting down"))
                continue
            try:
                if isinstance(head.work, Render):
                    assert self._render_batch is not None
                    results = self._render_batch([queued.work.job for queued in running])  # type: ignore[union-attr]
                else:
                    results = [head.work()]
            except BaseException as exc:  # a render reports its failure as its result; a window's is raised to its stream
                for queued in running:
                    queued.future.set_exception(exc)
                continue
            for queued, result in zip(running, results, strict=True):
                queued.future.set_result(result)
