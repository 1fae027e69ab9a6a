"""Token buckets: how many requests a client may send, and how many wrong keys it may try.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one,
and an empty bucket answers 429 with `Retry-After` (the seconds until a token is back) in
the route's error shape. A burst then a steady rate is what a TTS client needs (a page of
sentences at once, then one at a time); the `limits` package offers windows, not buckets.
With SQLite (one replica) buckets live in memory (`TokenBuckets`): idle ones are dropped,
oldest first, past `MAX_CLIENTS`, so memory stays bounded whoever sends. With PostgreSQL
(replicas sharing it) they live in the database (`db.rate_buckets`, `SharedBuckets` here),
so one key's limit holds across every replica. A limiter that cannot reach its database
lets the request through (logged): the request itself then meets the same database.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import Scope

from db import DatabaseUnavailableError
from db.rate_buckets import DatabaseBuckets

logger = logging.getLogger(__name__)

MAX_CLIENTS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate  # tokens per second
        self.burst = burst
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, client: str, now: float) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(client)
        return bucket

    async def take(self, client: str) -> float:
        """0 when the client may go on (a token is taken), else the seconds to wait."""
        with self._lock:
            bucket = self._bucket(client, time.monotonic())
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    async def wait_needed(self, client: str) -> float:
        """The seconds until the client has a token, without taking one (nor keeping a
        bucket for a client that never took one: every request asks)."""
        with self._lock:
            if client not in self._buckets:
                return 0.0
            bucket = self._bucket(client, time.monotonic())
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate


class SharedBuckets:
    """`DatabaseBuckets` for the middlewares: off the event loop, open when the database is down."""

    def __init__(self, buckets: DatabaseBuckets) -> None:
        self.buckets = buckets
        self.rate = buckets.rate
        self.burst = buckets.burst

    async def take(self, client: str) -> float:
        try:
            return await run_in_threadpool(self.buckets.take, client)
        except DatabaseUnavailableError:
            logger.warning("rate limit not applied: the database is unavailable", extra={"limit": self.buckets.name})
            return 0.0

    async def wait_needed(self, client: str) -> float:
        try:
            return await run_in_threadpool(self.buckets.wait_needed, client)
        except DatabaseUnavailableError:
            return 0.0


Buckets = TokenBuckets | SharedBuckets


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def client_address(scope: Scope, trust_forwarded_for: bool) -> str:
    """The peer's address, or behind a proxy you trust the first `X-Forwarded-For` entry."""
    if trust_forwarded_for and (forwarded := Headers(scope=scope).get("x-forwarded-for")):
        return forwarded.split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


def bearer_token(headers: Headers) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None when there is none."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def key_identity(token: str) -> str:
    """Buckets are kept per key without keeping the key itself in memory."""
    return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]
