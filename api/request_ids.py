"""A request id on every request: the client's `X-Request-ID` when it sent a usable one,
else a new one. It comes back as a response header (OpenAI's SDKs expose it as
`request_id`), inside every error of our shape, and in the log line of every server-side
failure, so a user's report can be matched to the log."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_USABLE = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")  # nothing that could forge a log line or a header

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_of(headers: Headers) -> str:
    given = headers.get(HEADER, "")
    return given if _USABLE.match(given) else uuid.uuid4().hex


class RequestIds:
    """Outermost of our middleware, so even a refused request carries its id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope))
        current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
