"""Reading many small objects in parallel: S3's latency, not its bandwidth, is what reading
thousands of records costs (`scripts/db.py reindex` rebuilding the database from storage)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from storage.base import ObjectNotFoundError, Storage

logger = logging.getLogger(__name__)

Parsed = TypeVar("Parsed")


def read_many(storage: Storage, keys: Iterable[str], workers: int, parse: Callable[[bytes, str], Parsed]) -> list[Parsed]:
    """`parse(data, version)` of every object, fetched in parallel; objects that vanished or
    do not parse are logged and skipped, never fatal to a listing."""

    def fetch(key: str) -> Parsed | None:
        try:
            data, version = storage.get_versioned(key)
            return parse(data, version)
        except ObjectNotFoundError:
            return None
        except ValueError as exc:
            logger.warning("skipping unreadable object", extra={"key": key, "error": str(exc)[:300]})
            return None

    with ThreadPoolExecutor(workers) as pool:
        return [item for item in pool.map(fetch, keys) if item is not None]

