"""The API's FastAPI app: error handlers, the web studio, the routers of every endpoint
family, and the middlewares in front of them, configured from the routes' own policies.

The app holds no state of its own until the service starts: `service.py` puts the serving
objects on `app.state` (`api.dependencies`) once it has built them.
"""

from __future__ import annotations

from fastapi import FastAPI

from api import __version__, studio
from api.access import AccessRules
from api.body_limits import BodyLimits, RequestBodyLimit
from api.errors import install_error_handlers
from api.idempotent_replay import Idempotency
from api.middleware import APIKeyAuth, RateLimit
from api.openapi_components import document_components
from api.rate_limits import Buckets, SharedBuckets, TokenBuckets
from api.realtime_protocol import DOCUMENTED as REALTIME_MESSAGES
from api.request_ids import RequestIds
from api.route_policies import RoutePolicies
from api.routes import ROUTERS, fallback
from concat.request import ConcatRequest
from config import Settings
from db import Database
from db.rate_buckets import DatabaseBuckets


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """`database`: where rate-limit buckets are shared between replicas (PostgreSQL); None
    keeps them in this replica's memory."""
    app = FastAPI(
        title="Chatterbox TTS Extended Plus",
        version=__version__,
        description="Text-to-speech with zero-shot voice cloning and voice conversion, built on Resemble AI's Chatterbox.",
    )
    install_error_handlers(app)
    studio.install(app, settings.studio)  # the web page at /studio (api/studio.py)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(fallback.router)  # last: it claims every other path under /api/ and /v1/
    document_components(app, [ConcatRequest, *REALTIME_MESSAGES])
    add_middleware(app, settings, RoutePolicies(app.routes), database)
    return app


def buckets(app: FastAPI, database: Database | None, name: str, rate: float, burst: int) -> Buckets:
    """In the database when one is given (listed in `app.state.shared_buckets` for the
    service's expiry task), else in memory."""
    if database is None:
        return TokenBuckets(rate, burst)
    shared = DatabaseBuckets(database, name, rate, burst)
    app.state.shared_buckets.append(shared)
    return SharedBuckets(shared)


def add_middleware(app: FastAPI, settings: Settings, policies: RoutePolicies, database: Database | None) -> None:
    """Innermost first: the body limit, idempotency (inside the limits: a refused request is
    not kept), rate limits, API keys (before the body is read: a request without a key is
    refused first), request ids (outermost: every answer carries its request id)."""
    limits = settings.limits
    app.add_middleware(
        RequestBodyLimit,
        limits=BodyLimits(json_bytes=limits.max_json_bytes, upload_bytes=limits.max_upload_bytes, archive_bytes=limits.max_archive_bytes, policies=policies),
    )
    app.state.shared_buckets = []
    rates = settings.rate_limits
    access = AccessRules(
        api_keys=tuple(key.encode() for key in settings.auth.api_keys),
        failures=buckets(app, database, "failed-auth", rates.failed_auth_per_minute / 60, rates.failed_auth_burst),
        requests=buckets(app, database, "requests", rates.requests_per_second, rates.burst) if rates.requests_per_second > 0 else None,
        trust_forwarded_for=rates.trust_forwarded_for,
    )
    app.state.access = access  # the WebSocket checks its keys and limits itself (api.realtime_serving)
    app.add_middleware(Idempotency, keyed=access.keyed, policies=policies)
    if access.requests is not None:
        app.add_middleware(RateLimit, access=access, policies=policies)
    app.add_middleware(APIKeyAuth, access=access, policies=policies)
    app.add_middleware(RequestIds)
