"""The HTTP routes, one router per endpoint family (as vLLM's entry points do). Each module
declares its routes' HTTP shape, parses what FastAPI cannot (forms into models, query
parameters into filters), declares each route's policies (`api.route_policies`) and hands
over to the serving classes of `api/` through `api.dependencies`. The order of `ROUTERS`
is the order of the OpenAPI document; `fallback` comes after all of them."""

from __future__ import annotations

from api.routes import concat, health, openai, outputs, realtime, speech, voices

ROUTERS = (health.router, speech.router, realtime.router, voices.router, concat.router, openai.router, outputs.router)
