"""Reading many small objects, and the compressed snapshots that spare a cold start from it.

Both in-memory indexes (voices, outputs) load the same way: one listing, then either one
GET per object, in parallel (S3 latency, not bandwidth, is the cost), or one snapshot
object some replica wrote earlier plus the objects that changed since.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from storage.base import ObjectNotFoundError, Storage

logger = logging.getLogger(__name__)

Parsed = TypeVar("Parsed")
Snapshot = TypeVar("Snapshot", bound=BaseModel)


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


def read_snapshot(storage: Storage, key: str, model: type[Snapshot]) -> Snapshot | None:
    """The snapshot at `key`, or None when there is none or it cannot be read (it is only a
    cache: the caller checks every entry against a fresh listing)."""
    try:
        return model.model_validate_json(gzip.decompress(storage.get(key)))
    except ObjectNotFoundError:
        return None
    except (ValidationError, OSError, EOFError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable index snapshot", extra={"key": key, "error": str(exc)[:300]})
        return None


def write_snapshot(storage: Storage, key: str, document: bytes) -> None:
    """`document`: the snapshot's JSON, built by the caller (from a model, or joined from
    records it already holds as JSON)."""
    storage.put(key, gzip.compress(document, compresslevel=5), "application/gzip")
