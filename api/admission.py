"""How much long-running work one API replica takes on at once: generations, and
synchronous concatenations.

Past what the replica can work through, more waiting requests only make every one of them
late; a 429 with Retry-After tells clients to come back (OpenAI SDKs retry it by
themselves) and lets a load balancer send them to another replica instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.errors import APIError

RETRY_AFTER_SECONDS = 5
SHUTDOWN_RETRY_AFTER_SECONDS = 1


def too_busy(what: str) -> APIError:
    """The 429 for work past a limit: `what` says what runs already and which setting bounds it."""
    return APIError(429, f"this server is {what} already; retry in a few seconds", error_type="rate_limit_exceeded", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class AdmissionSlots:
    """A counter, not a lock: the service runs one event loop, and a request that does not
    get a slot is answered at once rather than queued."""

    def __init__(self, limit: int, *, work: str = "generating", setting: str = "limits.max_pending_generations") -> None:
        self.limit = limit  # 0: no limit
        self.work = work  # what a slot holds, for the 429's message
        self.setting = setting
        self.active = 0
        self.closed = False  # the service is draining for shutdown: no new generations

    def close(self) -> None:
        self.closed = True

    def acquire(self) -> None:
        if self.closed:
            raise APIError(
                503, "this server is shutting down; retry (another replica will answer)", error_type="shutting_down",
                headers={"Retry-After": str(SHUTDOWN_RETRY_AFTER_SECONDS)},
            )
        if self.limit and self.active >= self.limit:
            raise too_busy(f"{self.work} {self.active} requests ({self.setting})")
        self.active += 1

    def release(self) -> None:
        self.active -= 1

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
