"""Request metrics labelled by route, not by raw path.

BentoML's request metrics middleware labels every series with the request's path. With paths
that carry names (`/api/v1/outputs/tts_20261201-...wav`, `/api/v1/voice/alex`) every output
ever downloaded and every voice ever touched got about forty series of its own (a counter, a
histogram's buckets, an in-progress gauge) that nothing ever removes: in prometheus_client's
multiprocess files, in the API's memory, in every `/metrics` scrape, and in the monitoring
system's storage. Anyone could add more with made-up paths. Measured before: 9,367 lines of
`/metrics` after a 30-minute soak, most of them per-file series.

That middleware is BentoML's, outside our app, and takes the label from `scope["path"]` when
the request arrives, so the API's worker installs a subclass (`install`) that hands it the
route's template (`/api/v1/outputs/{filename}`), or `unmatched` for a path no route serves,
and gives the app below the real path back. Runner processes keep BentoML's labels: their
paths are a fixed handful.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cached_property

from starlette.types import ASGIApp, Receive, Scope, Send

UNMATCHED = "unmatched"
ORIGINAL_PATH = "chatterbox.original_path"
FIXED_PATHS = ("/metrics", "/livez", "/readyz", "/healthz", "/docs", "/docs.json", "/openapi.json", "/redoc")
_PARAMETER = re.compile(r"\{([^}:]+)(:path)?\}")


def _pattern(template: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PARAMETER.finditer(template):
        parts += [re.escape(template[last : match.start()]), ".+" if match.group(2) else "[^/]+"]
        last = match.end()
    return re.compile("".join([*parts, re.escape(template[last:])]))


class RouteTemplates:
    """The template of the documented route that serves a path (`/api/v1/voice/{name}`),
    the path itself for a fixed one, else `unmatched`. The templates are the OpenAPI
    document's paths, read on first use (the service's routes are bound by then)."""

    def __init__(self, documented_paths: Callable[[], Iterable[str]]) -> None:
        self._documented_paths = documented_paths

    @cached_property
    def _patterns(self) -> list[tuple[re.Pattern[str], str]]:
        templates = sorted(set(self._documented_paths()), key=lambda template: "{" in template)  # fixed paths first
        return [(_pattern(template), template) for template in templates]

    def __call__(self, path: str) -> str:
        if path in FIXED_PATHS:
            return path
        return next((template for pattern, template in self._patterns if pattern.fullmatch(path)), UNMATCHED)


class _RealPath:
    """Below the metrics middleware: the app sees the path that was requested."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if ORIGINAL_PATH in scope:
            scope = {**scope, "path": scope[ORIGINAL_PATH]}
        await self.app(scope, receive, send)


def install(templates: RouteTemplates, service_name: str) -> None:
    """Replace BentoML's metrics middleware, for the service named `service_name` only
    (BentoML imports the class when it builds each app, after this runs)."""
    from bentoml._internal.context import server_context
    from bentoml._internal.server.http import instruments

    bentoml_middleware = instruments.RunnerTrafficMetricsMiddleware
    if getattr(bentoml_middleware, "labels_routes", False):
        return

    class RouteLabelledMetrics(bentoml_middleware):  # type: ignore[misc,valid-type]
        labels_routes = True

        def __init__(self, app: ASGIApp, *args: object, **kwargs: object) -> None:
            super().__init__(_RealPath(app), *args, **kwargs)

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and server_context.service_name == service_name:
                scope = {**scope, "path": templates(scope["path"]), ORIGINAL_PATH: scope["path"]}
            await super().__call__(scope, receive, send)

    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics
