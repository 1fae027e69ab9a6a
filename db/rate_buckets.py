"""Token buckets in the database, so every API replica draws from the same bucket: with N
replicas behind a load balancer, one key's limit holds across all of them instead of being N
times the configured rate.

Each take is one UPDATE that refills the bucket for the time since its last take, takes a
token if there is one, and says whether it did (`granted`), atomically: concurrent takes on
any replica serialise on the row. A bucket seen for the first time is inserted full, less
the token taken. Times are each replica's clock (a bucket never refills backwards if clocks
differ a little). Idle buckets are full again after `burst / rate` seconds, the same as no
row at all, so `expire` deletes them and the table stays as small as the set of active
clients. The in-memory buckets (`api.rate_limits.TokenBuckets`) do the same per replica.
"""

from __future__ import annotations

import time

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from db.engine import Database
from db.schema import rate_buckets


class DatabaseBuckets:
    def __init__(self, database: Database, name: str, rate: float, burst: int) -> None:
        self.database = database
        self.name = name  # several limits share the table: requests per key, failed authentications per address
        self.rate = rate  # tokens per second
        self.burst = burst

    def _key(self, client: str) -> str:
        return f"{self.name}:{client}"[:100]

    def take(self, client: str) -> float:
        """0 when the client may go on (a token is taken), else the seconds to wait."""
        key, now = self._key(client), time.time()
        c = rate_buckets.c
        elapsed = case((c.updated_at < now, now - c.updated_at), else_=0.0)
        refilled = case((c.tokens + elapsed * self.rate < self.burst, c.tokens + elapsed * self.rate), else_=float(self.burst))
        taking = update(rate_buckets).where(c.key == key).values(
            tokens=case((refilled >= 1, refilled - 1), else_=refilled), granted=refilled >= 1, updated_at=now,
        ).returning(c.tokens, c.granted)
        with self.database.write() as connection:
            row = connection.execute(taking).first()
            if row is None:
                try:
                    with connection.begin_nested():
                        connection.execute(insert(rate_buckets).values(key=key, tokens=self.burst - 1.0, updated_at=now, granted=True))
                    return 0.0
                except IntegrityError:  # another replica inserted it first: take from theirs
                    row = connection.execute(taking).one()
        return 0.0 if row.granted else (1 - row.tokens) / self.rate

    def wait_needed(self, client: str) -> float:
        """The seconds until the client has a token, without taking one."""
        with self.database.read() as connection:
            row = connection.execute(select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(rate_buckets.c.key == self._key(client))).first()
        if row is None:
            return 0.0
        tokens = min(float(self.burst), row.tokens + max(0.0, time.time() - row.updated_at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def expire(self) -> int:
        """Delete the buckets that are full again (idle for burst / rate seconds)."""
        cutoff = time.time() - self.burst / self.rate
        with self.database.write() as connection:
            return connection.execute(delete(rate_buckets).where(rate_buckets.c.key.startswith(self.name + ":"), rate_buckets.c.updated_at < cutoff)).rowcount
