"""Graceful shutdown: SIGTERM starts a drain of `shutdown.drain_seconds`, then cuts the rest.

Kubernetes (and `docker stop`) send SIGTERM and kill the pod 30 s later. On SIGTERM uvicorn
stops accepting connections and waits for the requests in flight, by default forever, and a
generation can outlast any grace period. So each process chains a handler in front of
uvicorn's:

- The API passes SIGTERM on at once (no new connections; health says `draining` and new
  generations get 503), gives in-flight work `drain_seconds`, then answers whatever still
  waits on a model with a 503 `shutting_down`. Its requests end, uvicorn's shutdown goes
  on, running jobs go back to the queue and the use counts are copied to storage before the
  process exits.
- A runner keeps listening while it drains, because the API's requests in flight still need
  it for their next chunks. It passes SIGTERM on once it has had no call in flight for
  `IDLE_EXIT_SECONDS`, or when its drain (a moment longer than the API's) ends; then a
  decoding loop still running stops at its next step and queued renders are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
RUNNER_EXTRA_SECONDS = 2.0  # runners cut a moment after the API, which then answers its clients itself
IDLE_EXIT_SECONDS = 1.0  # a draining runner with no call in flight this long stops
IDLE_POLL_SECONDS = 0.1


class ShuttingDownError(RuntimeError):
    """The drain time is over: the work was cut short."""


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = threading.Event()
        self.expired = threading.Event()  # for model threads: checked at every decoding step
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expired_async: asyncio.Event | None = None
        self._on_start: list[Callable[[], None]] = []
        self._in_flight = 0
        self._count_lock = threading.Lock()

    def install(self, *, stop_when_idle: bool = False) -> None:
        """Chain in front of the SIGTERM handler in place (uvicorn's, which stops the server).
        With `stop_when_idle` (the runners) it is passed on only once the work in flight is
        done (`working`) or the drain ended. Call from the main thread, inside the event loop
        when there is one."""
        try:
            self._loop = asyncio.get_running_loop()
            self._expired_async = asyncio.Event()
        except RuntimeError:
            self._loop = None
        previous = signal.getsignal(signal.SIGTERM)

        def pass_on(signum: int, frame: FrameType | None) -> None:
            if callable(previous):
                previous(signum, frame)
            else:  # no server handler: the default action, exit
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            first = not self.started.is_set()
            self.begin()
            if not stop_when_idle:
                pass_on(signum, frame)
            elif first:
                threading.Thread(target=self._stop_when_idle, args=(lambda: pass_on(signum, frame),), name="drain", daemon=True).start()

        signal.signal(signal.SIGTERM, on_sigterm)
        logger.info("graceful shutdown armed: drain %.0f s after SIGTERM", self.seconds)

    @contextmanager
    def working(self) -> Iterator[None]:
        """Around each model call of a runner: what `stop_when_idle` waits for."""
        with self._count_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def _stop_when_idle(self, stop: Callable[[], None]) -> None:
        idle_since: float | None = None
        while not self.expired.wait(IDLE_POLL_SECONDS):
            with self._count_lock:
                busy = self._in_flight > 0
            now = time.monotonic()
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= IDLE_EXIT_SECONDS:
                break
        logger.info("drained: stopping the server")
        stop()

    def on_start(self, callback: Callable[[], None]) -> None:
        self._on_start.append(callback)

    def begin(self) -> None:
        if self.started.is_set():
            return
        self.started.set()
        logger.warning("SIGTERM: draining; in-flight work has %.0f s to finish", self.seconds)
        for callback in self._on_start:
            callback()
        timer = threading.Timer(self.seconds, self._expire)
        timer.daemon = True
        timer.start()

    def _expire(self) -> None:
        logger.warning("drain time over: cutting the work still in flight")
        self.expired.set()
        if self._loop is not None and self._expired_async is not None:
            self._loop.call_soon_threadsafe(self._expired_async.set)

    async def guard(self, work: Awaitable[T]) -> T:
        """`work`, or ShuttingDownError when the drain time ends first (the work is cancelled)."""
        if self.expired.is_set():
            raise ShuttingDownError("the service is shutting down")
        if self._expired_async is None:
            return await work
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        expiry = asyncio.ensure_future(self._expired_async.wait())
        try:
            done, _ = await asyncio.wait({task, expiry}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            expiry.cancel()
            if not task.done():
                task.cancel()
        if task not in done:
            raise ShuttingDownError("the service is shutting down")
        return task.result()
