"""Checks that run before any route: API keys, and per-client rate limits (body sizes:
`api.body_limits`).

What needs a key, when keys are configured: everything under `/api/` and `/v1/` except the
routes declared public (`/api/v1/health`: probes; its answer holds no internals). `/docs`, `/openapi.json` and the
web studio (`/studio`, whose calls send the key its user typed) hold no data: public. `/metrics` is BentoML's own route, outside this
app: keep it on the cluster network (see docs/deployment.md).

All are plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which would
buffer streamed responses through a memory channel and hide the client's disconnect from
a speech stream that must stop generating when nobody listens.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.access import AccessRules
from api.errors import error_response, is_openai_path
from api.rate_limits import bearer_token, retry_after
from api.request_ids import current_request_id, request_id_of
from api.route_policies import RoutePolicies

logger = logging.getLogger(__name__)

def is_guarded(path: str, policies: RoutePolicies) -> bool:
    """Under `/api/` or `/v1/`, and not a public route: what keys and rate limits guard."""
    return (is_openai_path(path) or path.startswith("/api/")) and not policies(path).public


async def _too_many(scope: Scope, receive: Receive, send: Send, message: str, wait: float) -> None:
    response = error_response(429, "rate_limit_exceeded", message, openai=is_openai_path(scope["path"]), headers={"Retry-After": retry_after(wait)})
    await response(scope, receive, send)


class APIKeyAuth:
    """With keys configured, `/v1/*` and `/api/v1/*` need `Authorization: Bearer <key>`
    (what OpenAI SDKs send), compared in constant time (`AccessRules.authorized`), and each
    client address may fail only so often (the `failures` buckets) before every request from
    it gets 429 for a while, so keys cannot be guessed at network speed."""

    def __init__(self, app: ASGIApp, *, access: AccessRules, policies: RoutePolicies) -> None:
        self.app = app
        self.policies = policies
        self.access = access

    def _protected(self, path: str) -> bool:
        return self.access.keyed and is_guarded(path, self.policies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        address = self.access.address(scope)
        if wait := await self.access.failures.wait_needed(address):
            logger.warning("request refused: too many failed authentications from %s", address)
            await _too_many(scope, receive, send, "too many requests with a missing or wrong API key from this address; wait and retry with a valid key", wait)
            return
        if not self.access.authorized(bearer_token(Headers(scope=scope))):
            await self.access.failures.take(address)
            logger.info("request refused: missing or wrong API key", extra={"path": scope["path"]})
            response = error_response(
                401, "invalid_api_key", "a valid API key is required: send `Authorization: Bearer <key>` (one of the keys in API_KEYS)",
                openai=is_openai_path(scope["path"]), headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class RateLimit:
    """Per API key (per client address when keys are off, or for a request without one) a
    token bucket over `/api/` and `/v1/`; inside `APIKeyAuth`, so a key seen here is valid."""

    def __init__(self, app: ASGIApp, *, access: AccessRules, policies: RoutePolicies) -> None:
        assert access.requests is not None
        self.app = app
        self.policies = policies
        self.access = access
        self.buckets = access.requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_guarded(scope["path"], self.policies):
            if wait := await self.buckets.take(self.access.client(scope, bearer_token(Headers(scope=scope)))):
                logger.info("request refused: rate limit", extra={"path": scope["path"]})
                await _too_many(scope, receive, send, f"rate limit: at most {self.buckets.rate:g} requests per second after a burst of {self.buckets.burst}; retry after Retry-After seconds", wait)
                return
        await self.app(scope, receive, send)


class NewlinePaths:
    """A path with a newline inside (`%0A` in a voice name, say) matches none of BentoML's
    mounts, whose patterns stop at a newline, and would get BentoML's plain-text 404.
    Installed on the BentoML service (outside the API app), it answers in our shape; other
    control characters reach the routes, which refuse them as names."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\n" in scope["path"].rstrip("\n"):
            current_request_id.set(request_id_of(Headers(scope=scope)))
            message = "the path holds a newline; names never do: check how the URL was built"
            await error_response(400, "invalid_request_error", message, "path", openai=is_openai_path(scope["path"]))(scope, receive, send)
            return
        await self.app(scope, receive, send)
