"""Request bodies bounded while they arrive, per route and content type, before any parsing.

`Content-Length` is only a claim, and a chunked body has none: the limit is counted on the
bytes as the server receives them. Past it, reading stops (the parser sees an error, the
parts Starlette spooled are closed), whatever the route started to answer is dropped, and
the client gets a 413 in the route's error shape with `Connection: close`, so the rest of
its body is never read. A JSON body is small whatever the route; only multipart bodies
carry audio, and only the routes declared with `archive_body` carry archives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response, is_openai_path
from api.route_policies import RoutePolicies

logger = logging.getLogger(__name__)

MULTIPART = "multipart/form-data"
FORM_OVERHEAD_BYTES = 1 << 20  # multipart boundaries and the small text fields beside the files


class BodyTooLargeError(Exception):
    """Raised to the application from `receive` once the body passed its limit."""


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int  # any body that is not multipart: JSON, url-encoded forms, or junk
    upload_bytes: int  # one uploaded file
    archive_bytes: int  # one archive, or all files of one bulk request
    policies: RoutePolicies  # which routes take archives (`archive_body`)

    def for_request(self, path: str, content_type: str) -> int:
        if not content_type.lower().startswith(MULTIPART):
            return self.json_bytes
        if self.policies(path).archive_body:
            return self.archive_bytes + FORM_OVERHEAD_BYTES
        return 2 * self.upload_bytes + FORM_OVERHEAD_BYTES  # VC takes a source and a target


def _too_large(path: str, limit: int, content_type: str):
    kind = "multipart body" if content_type.lower().startswith(MULTIPART) else "request body (not multipart: JSON or a form)"
    message = f"the {kind} exceeds this route's limit of {limit} bytes; send less, or a smaller or compressed file"
    return error_response(413, "payload_too_large", message, openai=is_openai_path(path), headers={"Connection": "close"})


class RequestBodyLimit:
    """Plain ASGI (not BaseHTTPMiddleware, which would buffer streamed responses)."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "")
        limit = self.limits.for_request(path, content_type)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(path, limit, content_type)(scope, receive, send)
            return

        received = 0
        exceeded = False
        response_started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the route's answer to a cut body (a parse error): ours replaces it
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not response_started:
            logger.info("request refused: body over the limit", extra={"path": path, "limit": limit, "received": received})
            await _too_large(path, limit, content_type)(scope, receive, send)
