"""A lease in shared storage: at most one replica at a time does a piece of shared work.

Retention deletes outputs by age and total size. Run by every replica at once, each lists
the whole store and they race to delete the same objects. The lease is one small object
naming its holder and when it expires; it is taken or renewed with a conditional write, so
two replicas never both hold it, and a holder that died loses it once it expires.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ValidationError

from storage.base import ObjectNotFoundError, PreconditionFailedError, Storage

LEASES_PREFIX = "leases/"


class _Holder(BaseModel):
    holder: str
    expires_at: datetime


class Lease:
    def __init__(self, storage: Storage, name: str, duration: timedelta) -> None:
        self.storage = storage
        self.key = f"{LEASES_PREFIX}{name}.json"
        self.duration = duration
        self.holder = uuid.uuid4().hex  # this process

    def acquire(self) -> bool:
        """True when this replica holds the lease now (taken, renewed, or taken over from a
        holder whose time ran out); False when another replica holds it."""
        now = datetime.now(timezone.utc)
        try:
            data, version = self.storage.get_versioned(self.key)
        except ObjectNotFoundError:
            version = None
        else:
            try:
                current = _Holder.model_validate_json(data)
            except ValidationError:
                current = None
            if current is not None and current.holder != self.holder and current.expires_at > now:
                return False
        mine = _Holder(holder=self.holder, expires_at=now + self.duration)
        try:
            self.storage.put_if(self.key, mine.model_dump_json().encode(), version, "application/json")
        except PreconditionFailedError:
            return False  # another replica took it in between
        return True
