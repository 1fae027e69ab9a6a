"""`Idempotency-Key` on the routes that create things (declared `idempotent`): a retried request gets the first
answer again instead of making a second voice, output or job.

A client that lost the answer to a POST (a timeout, a dropped connection) cannot know
whether it was done. Sent again with the same `Idempotency-Key`, the request is not run
again: the stored answer comes back with `Idempotent-Replayed: true`. Records live in the
metadata database (`db.idempotency`), so a retry that reaches another replica is
recognised too; while the first is still running, a retry gets 409 with `Retry-After`.

- Keys are per client (per API key when keys are on) and per route.
- The same key with another request (method, route, body type or size) is a 422: a key
  names one request.
- Answers to keep: 2xx and 4xx, when their body is at most `MAX_STORED_BODY` bytes and
  not streamed. A 5xx, a 429 or a streamed answer (`response_mode=stream`) is forgotten, so
  the retry runs again.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response, is_openai_path
from api.rate_limits import bearer_token, key_identity
from api.route_policies import RoutePolicies
from db import DatabaseUnavailableError
from db.idempotency import IdempotencyRecord, IdempotencyStore, StoredAnswer, record_key

logger = logging.getLogger(__name__)

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
MAX_KEY_CHARS = 255
MAX_STORED_BODY = 1 << 20
_NOT_REPLAYED = {"x-request-id", "date", "server", "content-length"}


def _fingerprint(scope: Scope, headers: Headers) -> str:
    """What must match between a request and its retry. Not the body: hashing it would mean
    reading a multipart upload before the route does; its type (less the multipart
    boundary, which clients draw anew for each send) and size stand in for it."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    shape = f"{scope['method']} {scope['path']} {content_type} {headers.get('content-length', '')}"
    return hashlib.sha256(shape.encode()).hexdigest()


def _usable(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_CHARS and key.isascii() and key.isprintable()


class Idempotency:
    def __init__(self, app: ASGIApp, *, keyed: bool, policies: RoutePolicies) -> None:
        self.app = app
        self.policies = policies
        self.keyed = keyed

    def _client(self, headers: Headers) -> str:
        token = bearer_token(headers)
        return key_identity(token) if self.keyed and token is not None else "anonymous"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        if scope["type"] != "http" or scope["method"] != "POST" or not self.policies(scope["path"]).idempotent or key is None:
            await self.app(scope, receive, send)
            return
        openai = is_openai_path(scope["path"])
        if not _usable(key):
            await error_response(400, "invalid_request_error", f"Idempotency-Key: 1-{MAX_KEY_CHARS} printable ASCII characters", "Idempotency-Key", openai=openai)(scope, receive, send)
            return
        store: IdempotencyStore = scope["app"].state.idempotency  # the service sets it up with the database
        stored_at = record_key(self._client(headers), scope["path"], key)
        fingerprint = _fingerprint(scope, headers)
        try:
            record, token = await run_in_threadpool(store.claim, stored_at, fingerprint)
        except DatabaseUnavailableError:
            await error_response(503, "database_unavailable", "the metadata database is unavailable; try again later", openai=openai)(scope, receive, send)
            return
        if token is None:
            await self._answer_again(record, fingerprint, scope, receive, send)
            return
        await self._run_and_keep(store, stored_at, token, scope, receive, send)

    async def _answer_again(self, record: IdempotencyRecord, fingerprint: str, scope: Scope, receive: Receive, send: Send) -> None:
        if record.fingerprint != fingerprint:
            message = "this Idempotency-Key was used for another request (method, route, body type or size differ); use a new key for a new request"
            await error_response(422, "invalid_request_error", message, "Idempotency-Key")(scope, receive, send)
            return
        if record.state == "pending" or record.answer is None:
            message = "the first request with this Idempotency-Key is still running; retry in a moment for its answer"
            await error_response(409, "conflict", message, "Idempotency-Key", headers={"Retry-After": "1"})(scope, receive, send)
            return
        answer = record.answer
        replay_headers = [(name.encode(), value.encode()) for name, value in answer.headers] + [(REPLAYED_HEADER.encode(), b"true")]
        replay_headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": replay_headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _run_and_keep(self, store: IdempotencyStore, stored_at: str, token: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs the request; a keepable answer is stored before its last byte goes out, so a
        client that retries the moment it has the answer finds it kept, not still running."""
        status = 500
        kept_headers: list[tuple[str, str]] = []
        body = bytearray()
        storable = True
        kept = released = False

        async def keep() -> None:
            nonlocal kept
            answer = StoredAnswer(status_code=status, headers=kept_headers, body_base64=base64.b64encode(bytes(body)).decode())
            try:
                await run_in_threadpool(store.complete, stored_at, token, answer)
                kept = True
            except Exception:  # the answer still goes out; a retry will run the request again
                logger.exception("could not keep the answer of an idempotent request")

        async def release() -> None:
            nonlocal released
            released = True
            await run_in_threadpool(store.release, stored_at, token)

        async def capture(message: Message) -> None:
            nonlocal status, storable
            if message["type"] == "http.response.start":
                status = message["status"]
                storable = status < 500 and status != 429
                kept_headers.extend((n.decode("latin-1"), v.decode("latin-1")) for n, v in message.get("headers", []) if n.decode("latin-1").lower() not in _NOT_REPLAYED)
            elif message["type"] == "http.response.body":
                last = not message.get("more_body", False)
                if storable:
                    body.extend(message.get("body", b""))
                    if not last or len(body) > MAX_STORED_BODY:
                        storable = False  # streamed or large: not kept
                        body.clear()
                if last:  # settled before the client sees the end, so its next retry finds it so
                    await (keep() if storable else release())
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not kept and not released:
                await release()
