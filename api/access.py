"""Who may call the API and how often: the configured keys, the buckets that slow down key
guessing and limit requests, as one object the HTTP middlewares (`api.middleware`) and the
WebSocket (`api.realtime_serving`, which checks a key in its first message when a browser
cannot send the header) both ask, so a key and a limit mean the same on both."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.types import Scope

from api.rate_limits import Buckets, client_address, key_identity


@dataclass(frozen=True)
class AccessRules:
    api_keys: tuple[bytes, ...]
    failures: Buckets  # failed authentications per client address
    requests: Buckets | None  # requests per key (per address without one); None: no limit
    trust_forwarded_for: bool

    @property
    def keyed(self) -> bool:
        return bool(self.api_keys)

    def authorized(self, token: str | None) -> bool:
        """Every key is compared in constant time, so the answer's timing says nothing about
        how close a guess was."""
        if token is None:
            return False
        given = token.encode()
        matched = False
        for key in self.api_keys:
            matched |= hmac.compare_digest(given, key)
        return matched

    def address(self, scope: Scope) -> str:
        return client_address(scope, self.trust_forwarded_for)

    def client(self, scope: Scope, token: str | None) -> str:
        """Whom a request counts against: its key (a valid one, when keys are configured),
        else its address."""
        if self.keyed and token is not None:
            return key_identity(token)
        return "address:" + self.address(scope)
