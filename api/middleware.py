"""Checks that run before any route: request size and API keys.

Both are plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which would
buffer streamed responses through a memory channel and hide the client's disconnect from
a speech stream that must stop generating when nobody listens.
"""

from __future__ import annotations

import hmac
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response, is_openai_path

logger = logging.getLogger(__name__)

PUBLIC_PATHS = ("/api/v1/health",)  # load balancers probe it without a key


class RequestSizeLimit:
    """Refuse bodies larger than two uploads (an archive's size on the routes that take
    archives or many files) before Starlette spools them to disk."""

    def __init__(self, app: ASGIApp, *, default_limit: int, large_limit: int, large_body_routes: tuple[str, ...]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.large_limit = large_limit
        self.large_body_routes = large_body_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = self.large_limit if scope["path"] in self.large_body_routes else self.default_limit
            declared = Headers(scope=scope).get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                response = error_response(413, "payload_too_large", f"request body exceeds {limit} bytes", openai=is_openai_path(scope["path"]))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class APIKeyAuth:
    """With keys configured, `/v1/*` and `/api/v1/*` need `Authorization: Bearer <key>`
    (what OpenAI SDKs send). Every key is compared in constant time, so the answer's timing
    says nothing about how close a guess was."""

    def __init__(self, app: ASGIApp, *, api_keys: list[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in api_keys]

    def _protected(self, path: str) -> bool:
        return bool(self.keys) and (is_openai_path(path) or path.startswith("/api/")) and path not in PUBLIC_PATHS

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return scheme.lower() == "bearer" and matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._protected(scope["path"]) and not self._authorized(Headers(scope=scope)):
            logger.info("request refused: missing or wrong API key", extra={"path": scope["path"]})
            response = error_response(
                401, "invalid_api_key", "a valid API key is required: send `Authorization: Bearer <key>` (one of the keys in API_KEYS)",
                openai=is_openai_path(scope["path"]), headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
