"""How the API's calls reach every replica of a runner: connections retire with age, between
calls, never during one.

BentoML's client (`bentoml.depends`, `_bentoml_impl.client.proxy2`) keeps one aiohttp
session per runner, and aiohttp keeps its connections alive for as long as they are used.
Behind a Kubernetes Service (one virtual address, balanced per connection) a runner replica
added by a scale-up would then receive only the connections opened after it came, which under
steady load is none. BentoML's own remedy, recycling the whole session after N calls or
seconds, closes the old session with every call still in flight on it (503s under load), so
the runners turn it off (`runners/service_config.py`).

Here each connection instead carries its birth time, and when a call hands a connection back
to the pool after `runner.connection_max_age_seconds`, it is closed rather than pooled: the
next call opens a new one, which the Service (or, with a headless Service, aiohttp's DNS
round robin over the endpoints' addresses) sends to any ready replica. A call in flight is
never cut: a connection retires only when no call holds it. The cost is one TCP connect per
connection per period, which is nothing beside a model call.
"""

from __future__ import annotations

import logging
import weakref
from time import monotonic
from typing import Any

import aiohttp
from _bentoml_impl.client import proxy2
from aiohttp.client_proto import ResponseHandler

logger = logging.getLogger(__name__)


class AgedConnector(aiohttp.TCPConnector):
    """A TCP connector whose connections are not reused once older than `max_age` seconds."""

    def __init__(self, max_age: float, **options: Any) -> None:
        super().__init__(**options)
        self.max_age = max_age
        self._born: weakref.WeakKeyDictionary[ResponseHandler, float] = weakref.WeakKeyDictionary()

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> ResponseHandler:
        protocol = await super()._create_connection(req, traces, timeout)
        self._born[protocol] = monotonic()
        return protocol

    def _release(self, key: Any, protocol: ResponseHandler, *, should_close: bool = False) -> None:
        expired = monotonic() - self._born.get(protocol, 0.0) > self.max_age
        super()._release(key, protocol, should_close=should_close or expired)


def install(max_age: float) -> None:
    """Every BentoML client session this process makes over TCP gets an `AgedConnector`
    (sessions over a Unix socket or in-process, as `bentoml serve` wires one Bento's services
    together, keep BentoML's: they reach one process). Called by the API service at import,
    before its runner clients exist."""
    make_client = proxy2.SessionManager._make_client
    if getattr(make_client, "aged", False):
        return

    def aged_client(manager: proxy2.SessionManager) -> aiohttp.ClientSession:
        url = manager._parsed_url
        if manager._app is not None or url.scheme == "file":
            return make_client(manager)
        logger.info("runner connections retire with age", extra={"url": url.geturl(), "max_age_seconds": max_age})
        base_url = f"http://{url.netloc}" if url.scheme == "tcp" else url.geturl()  # as BentoML's own
        return aiohttp.ClientSession(base_url=base_url, headers=manager._headers, timeout=manager._timeout, connector=AgedConnector(max_age))

    aged_client.aged = True  # type: ignore[attr-defined]
    proxy2.SessionManager._make_client = aged_client  # type: ignore[method-assign]
