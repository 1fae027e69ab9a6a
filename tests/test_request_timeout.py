"""BentoML's request timeout as `api/request_timeout.py` fixes it: a finished request leaves
nothing alive behind it (BentoML's own kept each request's context for the whole timeout),
and a request with no answer within the timeout still gets BentoML's 504."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref

import httpx
from starlette.types import Receive, Scope, Send

from api.request_timeout import install

REQUEST_STATE: contextvars.ContextVar[object] = contextvars.ContextVar("request_state")


class RequestState:
    """Stands for what outer middleware keeps in context variables (a tracing span)."""


def timeout_middleware(app, timeout: float):
    install()
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    return TimeoutMiddleware(app, timeout=timeout)


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_finished_request_leaves_nothing_alive() -> None:
    states: list[weakref.ref[RequestState]] = []
    inner = timeout_middleware(answer, timeout=3600)

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        state = RequestState()
        states.append(weakref.ref(state))
        token = REQUEST_STATE.set(state)
        try:
            await inner(scope, receive, send)
        finally:
            REQUEST_STATE.reset(token)

    async def serve_three() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://service") as client:
            return [(await client.get("/")).status_code for _ in range(3)]

    assert asyncio.run(serve_three()) == [200, 200, 200]
    gc.collect()
    assert len(states) == 3 and [state() for state in states] == [None, None, None]


def test_no_answer_within_the_timeout_is_a_504() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(30)  # cancelled by the timeout long before
        await answer(scope, receive, send)

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=timeout_middleware(slow, timeout=0.05)), base_url="http://service") as client:
            return await client.get("/")

    response = asyncio.run(ask())
    assert response.status_code == 504 and "0.05 seconds" in response.json()["error"]
