"""Idempotency records: the first answer to a request sent with an `Idempotency-Key`.

One row per (client, route, key), keyed by a hash so no client text reaches the database's
keys. A request claims its key by inserting a `pending` row; of two replicas receiving the
same retry at once, exactly one insert succeeds and the other finds the row. When the
request ends the row holds its answer (or is deleted, when the answer was a server-side
failure, so a retry runs again); both are conditional on the claimant's token, so a claim
taken over from a replica that died is never completed by it. Rows expire after
`idempotency.ttl_hours`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from db.engine import Database, DatabaseUnavailableError
from db.schema import idempotency, moment

logger = logging.getLogger(__name__)

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


def record_key(client: str, path: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{client}\n{path}\n{idempotency_key}".encode()).hexdigest()


def _record(row) -> IdempotencyRecord | None:
    try:
        answer = StoredAnswer.model_validate_json(row.answer) if row.answer else None
    except ValidationError:
        return None
    return IdempotencyRecord(state=row.state, fingerprint=row.fingerprint, created_at=moment(row.created_at), answer=answer)


class IdempotencyStore:
    def __init__(self, database: Database, ttl: timedelta) -> None:
        self.database = database
        self.ttl = ttl

    def claim(self, key: str, fingerprint: str) -> tuple[IdempotencyRecord, str | None]:
        """(our new pending record, our token) when the key is free, else (the record found,
        None). A record past its TTL, a pending one older than the longest a request may run
        (its replica died), or an unreadable one is taken over."""
        now = datetime.now(timezone.utc)
        mine = IdempotencyRecord(state="pending", fingerprint=fingerprint, created_at=now)
        token = uuid.uuid4().hex
        values = {"key": key, "token": token, "fingerprint": fingerprint, "state": "pending", "created_at": now.timestamp(), "answer": None}
        with self.database.write() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(insert(idempotency).values(values))
                return mine, token
            except IntegrityError:
                pass
            row = connection.execute(select(idempotency).where(idempotency.c.key == key).with_for_update()).first()
            found = _record(row) if row is not None else None
            if found is not None and now - found.created_at < (self.ttl if found.state == "done" else PENDING_STALE):
                return found, None
            connection.execute(update(idempotency).where(idempotency.c.key == key).values(values))
            return mine, token

    def complete(self, key: str, token: str, answer: StoredAnswer) -> None:
        with self.database.write() as connection:
            connection.execute(
                update(idempotency).where(idempotency.c.key == key, idempotency.c.token == token).values(state="done", answer=answer.model_dump_json())
            )

    def release(self, key: str, token: str) -> None:
        """The request failed on our side: forget it, so the client's retry runs again. If
        the database fails now too, the record stays pending until PENDING_STALE (logged)."""
        try:
            with self.database.write() as connection:
                connection.execute(delete(idempotency).where(idempotency.c.key == key, idempotency.c.token == token))
        except DatabaseUnavailableError as exc:
            logger.warning("could not release an idempotency record; retries with its key wait for it to go stale: %s", exc)

    def expire(self) -> int:
        """Delete records older than the TTL; returns how many."""
        cutoff = (datetime.now(timezone.utc) - max(self.ttl, PENDING_STALE)).timestamp()
        with self.database.write() as connection:
            return connection.execute(delete(idempotency).where(idempotency.c.created_at < cutoff)).rowcount
