"""`/api/v1/health`: public, so load balancers and probes need no key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.dependencies import ServingDep
from api.protocol import HealthResponse
from api.route_policies import route_policy

router = APIRouter()


@router.get("/api/v1/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
@route_policy(public=True)
async def health(serving: ServingDep) -> JSONResponse:
    """Version, the model source actually loaded (so `random` is never hidden), device,
    storage backend, and readiness (503 until every part is ready)."""
    body, status = await serving.health.health()
    return JSONResponse(body.model_dump(mode="json"), status_code=status)
