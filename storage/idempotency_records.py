"""Idempotency records: the first answer to a request sent with an `Idempotency-Key`.

One object per (client, route, key) under ``idempotency/``, named by a hash so no client
text reaches a storage key. It is created `pending` with a create-only conditional write,
so of two replicas receiving the same retry at once exactly one runs the request; the
other finds the record. When the request ends the record holds its answer (or is removed,
when the answer was a server-side failure, so a retry runs again). Records expire after
`idempotency.ttl_hours`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ValidationError

from storage.base import ObjectNotFoundError, PreconditionFailedError, Storage, StorageError
from storage.retries import retry_conflicts

logger = logging.getLogger(__name__)

IDEMPOTENCY_PREFIX = "idempotency/"
CLAIM_ATTEMPTS = 4
PENDING_STALE = timedelta(hours=1)  # the service's request timeout: no request of a pending record this old still runs


class StoredAnswer(BaseModel):
    status_code: int
    headers: list[tuple[str, str]]
    body_base64: str

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_base64)


class IdempotencyRecord(BaseModel):
    state: Literal["pending", "done"]
    fingerprint: str  # method, path and body shape of the first request
    created_at: datetime
    answer: StoredAnswer | None = None


def _parsed(data: bytes) -> IdempotencyRecord | None:
    try:
        return IdempotencyRecord.model_validate_json(data)
    except ValidationError:
        return None


def record_key(client: str, path: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{client}\n{path}\n{idempotency_key}".encode()).hexdigest()
    return f"{IDEMPOTENCY_PREFIX}{digest}.json"


class IdempotencyStore:
    def __init__(self, storage: Storage, ttl: timedelta) -> None:
        self.storage = storage
        self.ttl = ttl

    def claim(self, key: str, fingerprint: str) -> tuple[IdempotencyRecord, str | None]:
        """(our new pending record, its version) when the key is free, else (the record
        found, None). A record past its TTL, a pending one older than the longest a request
        may run (its replica died), or an unreadable one is taken over."""
        now = datetime.now(timezone.utc)
        mine = IdempotencyRecord(state="pending", fingerprint=fingerprint, created_at=now)
        encoded = mine.model_dump_json().encode()

        def attempt() -> tuple[IdempotencyRecord, str | None]:
            try:
                return mine, self.storage.put_if(key, encoded, None, "application/json")
            except PreconditionFailedError:
                pass
            try:
                data, version = self.storage.get_versioned(key)
            except ObjectNotFoundError:
                raise PreconditionFailedError("removed meanwhile: claim again") from None
            found = _parsed(data)
            if found is not None and now - found.created_at < (self.ttl if found.state == "done" else PENDING_STALE):
                return found, None
            return mine, self.storage.put_if(key, encoded, version, "application/json")

        return retry_conflicts("the idempotency record", attempt, CLAIM_ATTEMPTS)

    def complete(self, key: str, version: str, record: IdempotencyRecord, answer: StoredAnswer) -> None:
        done = record.model_copy(update={"state": "done", "answer": answer})
        self.storage.put_if(key, done.model_dump_json().encode(), version, "application/json")

    def release(self, key: str, version: str) -> None:
        """The request failed on our side: forget it, so the client's retry runs again. If
        storage fails now too, the record stays pending until PENDING_STALE (logged)."""
        try:
            self.storage.delete_if(key, version)
        except (ObjectNotFoundError, PreconditionFailedError):
            pass
        except StorageError as exc:
            logger.warning("could not release an idempotency record; retries with its key wait for it to go stale: %s", exc)

    def expire(self) -> int:
        """Delete records older than the TTL; returns how many."""
        cutoff = datetime.now(timezone.utc) - self.ttl
        removed = 0
        for info in self.storage.list_objects(IDEMPOTENCY_PREFIX):
            if datetime.fromtimestamp(info.modified, timezone.utc) < cutoff:
                self.storage.delete(info.key)
                removed += 1
        return removed
