"""BentoML's request timeout, without keeping every request alive for the length of it.

BentoML's `TimeoutMiddleware` (bentoml 1.4.40, `_internal/server/http/traffic.py`) arms a
`loop.call_later(timeout, ...)` per request and never cancels it. A timer handle holds a copy
of the request's context variables, and through them the request's tracing span, its
scope-derived attributes and its connection state, so every request stayed in memory for
`traffic.timeout` seconds after it ended: one hour here (generations are long), about
4-5 KiB per request. Measured: the API worker grew 3.9 KiB per `GET /api/v1/outputs` and
0.3 GB over a 30-minute soak, linearly, whatever the allocator; a model runner kept every
`decode`/`render` call the same way.

This subclass keeps BentoML's behaviour (a 504 when no response has started within the
timeout) and drops the timer as soon as the request ends; its handle is armed in an empty
context. `install` puts it where BentoML looks for it when it builds each service's app,
so the API and the runners both get it.
"""

from __future__ import annotations

import asyncio
import contextvars

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send


def install() -> None:
    from bentoml._internal.server.http import traffic

    bentoml_middleware = traffic.TimeoutMiddleware
    if getattr(bentoml_middleware, "forgets_finished_requests", False):
        return

    class ForgetfulTimeout(bentoml_middleware):  # type: ignore[misc,valid-type]
        forgets_finished_requests = True

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket"):
                await self.app(scope, receive, send)
                return
            loop = asyncio.get_running_loop()
            started: asyncio.Future[None] = loop.create_future()
            timer = loop.call_later(self.timeout, self._set_timer_out, started, context=contextvars.Context())

            async def send_started(message: Message) -> None:
                if not started.done():
                    started.set_result(None)
                await send(message)

            work = asyncio.ensure_future(self.app(scope, receive, send_started))
            try:
                await started
            except asyncio.TimeoutError:
                if work.cancel():
                    await JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"}, status_code=504)(scope, receive, send)
            else:
                await work
            finally:
                timer.cancel()

    traffic.TimeoutMiddleware = ForgetfulTimeout
