"""Route policies are declared on the routes and read off an app's routes, included routers
and path templates too (the served app's policies are proven through HTTP by the hardening,
idempotency and body-limit tests)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from api.route_policies import RoutePolicies, RoutePolicy, route_policy


def test_policies_are_read_off_the_routes_of_included_routers() -> None:
    router = APIRouter()

    @router.get("/things")
    @route_policy(public=True)
    async def list_things() -> None: ...

    @router.post("/things")
    @route_policy(idempotent=True)
    async def make_thing() -> None: ...

    @router.post("/things/{name}/archive")
    @route_policy(archive_body=True)
    async def archive_thing(name: str) -> None: ...

    @router.get("/plain")
    async def plain() -> None: ...

    app = FastAPI()
    app.include_router(router)
    policies = RoutePolicies(app.routes)
    assert policies("/things") == RoutePolicy(public=True, idempotent=True)  # two methods at one path: either's flags
    assert policies("/things/box/archive") == RoutePolicy(archive_body=True)
    assert policies("/plain") == policies("/nowhere") == policies("/things/box") == RoutePolicy()
