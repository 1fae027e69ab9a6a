"""What the middlewares treat differently, declared on the route it concerns.

The middlewares (API keys, rate limits, body limits, idempotency) run before FastAPI routes
a request, so each needs to know from the path alone whether a route is public, takes
`Idempotency-Key`, or takes an archive-sized body. Routes say so where they are declared:

    @router.post("/api/v1/voices/import", ...)
    @route_policy(idempotent=True, archive_body=True)
    async def import_voices(...): ...

and `RoutePolicies` reads the declarations off the app's routes once, when the app is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import TypeVar

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

EndpointT = TypeVar("EndpointT", bound=Callable)
_ATTRIBUTE = "route_policy"


@dataclass(frozen=True)
class RoutePolicy:
    public: bool = False  # no API key and no rate limit (load balancers probe it); its answer holds no internals
    idempotent: bool = False  # a POST with `Idempotency-Key` is answered once (api/idempotent_replay.py)
    archive_body: bool = False  # the body may be as large as `limits.max_archive_bytes` (zips, many uploads)

    def merged(self, other: RoutePolicy) -> RoutePolicy:
        """Two routes at one path (another method): each flag holds if either declares it."""
        return RoutePolicy(**{field.name: getattr(self, field.name) or getattr(other, field.name) for field in fields(self)})


def route_policy(*, public: bool = False, idempotent: bool = False, archive_body: bool = False) -> Callable[[EndpointT], EndpointT]:
    """Declares the route's policy on its endpoint (put it under the route's decorator)."""

    def declare(endpoint: EndpointT) -> EndpointT:
        setattr(endpoint, _ATTRIBUTE, RoutePolicy(public=public, idempotent=idempotent, archive_body=archive_body))
        return endpoint

    return declare


class RoutePolicies:
    """The declared policies by request path: a dictionary lookup for fixed paths, a match of
    the few path templates that declare one; a path no route declares gets the default."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._by_path: dict[str, RoutePolicy] = {}
        self._by_template: list[tuple[re.Pattern[str], RoutePolicy]] = []
        for route in iter_route_contexts(list(routes)):  # included routers' routes too
            declared = getattr(route.endpoint, _ATTRIBUTE, None)
            if declared is None:
                continue
            if route.param_convertors:
                self._by_template.append((route.path_regex, declared))
            else:
                path: str = route.path
                self._by_path[path] = self._by_path.get(path, RoutePolicy()).merged(declared)

    def __call__(self, path: str) -> RoutePolicy:
        if (declared := self._by_path.get(path)) is not None:
            return declared
        for pattern, declared in self._by_template:
            if pattern.match(path):
                return declared
        return RoutePolicy()

