"""S3Gen renders on one thread of their own, first renders of requests first.

A request waits for its own render only (not for every render of the batch it was decoded
in), and renders never hold the threads `info` and `forget` answer on. The order is first
come, first served, except that a request's first render (`Render.first`: the audio a new
listener is waiting for) goes before the renders of other requests' later chunks, whose
listeners are already hearing earlier ones. A later chunk can be overtaken only by requests
that arrived while it waited, and admission (`limits.max_pending_generations`) bounds those.

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
from typing import Any

from contract.runner_jobs import JobResult, Render
from lifecycle.drain import Drain, ShuttingDownError


@dataclass(order=True)
class _Queued:
    later: bool  # False sorts first: a request's first render
    arrival: int
    render: Callable[[Any], JobResult] = field(compare=False)
    job: Render = field(compare=False)
    future: Future[JobResult] = field(compare=False, default_factory=Future)


class RenderQueue:
    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._queued: list[_Queued] = []
        self._arrivals = itertools.count()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="s3gen", daemon=True)
        self._thread.start()

    def submit(self, render: Callable[[Any], JobResult], job: Render) -> Future[JobResult]:
        queued = _Queued(not job.first, next(self._arrivals), render, job)
        with self._wake:
            heapq.heappush(self._queued, queued)
            self._wake.notify()
        return queued.future

    async def run(self, render: Callable[[Any], JobResult], jobs: list[Any]) -> list[JobResult]:
        with self._drain.working():
            return [await asyncio.wrap_future(self.submit(render, job)) for job in jobs]

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
                queued.future.set_result(queued.render(queued.job))
            except BaseException as exc:  # the engine reports a job's failure as its result; this is a bug's last resort
                queued.future.set_exception(exc)
