"""Unknown paths under `/api/` and `/v1/`, answered in the API's error shape (OpenAI's on
`/v1/`): a 405 where the path exists with other methods, else a 404. Included after every
other router."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIWebSocketRoute, iter_route_contexts

from api.errors import error_response, is_openai_path

router = APIRouter(include_in_schema=False)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/api/{path:path}", methods=METHODS)
@router.api_route("/v1/{path:path}", methods=METHODS)
async def unknown_route(request: Request) -> JSONResponse:
    """BentoML answers unmatched paths itself, in plain text; claiming /api/ and /v1/ here
    keeps every answer in the API's error shape."""
    routes = [route for route in iter_route_contexts(request.app.routes) if route.endpoint is not unknown_route and route.path_regex.match(request.url.path)]
    openai = is_openai_path(request.url.path)
    if any(isinstance(route.original_route, APIWebSocketRoute) for route in routes):
        return error_response(400, "invalid_request_error", f"{request.url.path} is a WebSocket: open it with a WebSocket client (ws:// or wss://), see docs/realtime.md", openai=openai)
    allowed = sorted({method for route in routes for method in route.methods or ()})
    if allowed:
        return error_response(405, "invalid_request_error", f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}", openai=openai)
    return error_response(404, "not_found", f"no route {request.method} {request.url.path}; see /docs", openai=openai)
