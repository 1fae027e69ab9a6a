"""A lease in the database: at most one replica at a time does a piece of shared work.

Retention deletes outputs by age and total size; run by every replica at once, they would
race to delete the same outputs. The lease is one row naming its holder and when it
expires, taken or renewed by one conditional UPDATE (or the INSERT of a lease never taken),
so two replicas never both hold it, and one that died loses it once it expires.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError

from db.engine import Database
from db.schema import leases


class Lease:
    def __init__(self, database: Database, name: str, seconds: float) -> None:
        self.database = database
        self.name = name
        self.seconds = seconds
        self.holder = uuid.uuid4().hex  # this process

    def acquire(self) -> bool:
        """True when this replica holds the lease now (taken, renewed, or taken over from a
        holder whose time ran out); False when another replica holds it."""
        now = time.time()
        mine = {"holder": self.holder, "expires_at": now + self.seconds}
        with self.database.write() as connection:
            free = or_(leases.c.holder == self.holder, leases.c.expires_at <= now)
            if connection.execute(update(leases).where(leases.c.name == self.name, free).values(mine)).rowcount == 1:
                return True
            try:
                with connection.begin_nested():
                    connection.execute(insert(leases).values(name=self.name, **mine))
            except IntegrityError:
                return False  # another replica holds it
            return True
