"""The web studio (`/studio`): static files from `studio/`, served by the API app itself so
it works air-gapped (no CDN) and needs nothing but the service.

The page holds no data: it is public like `/docs`, and every call it makes goes through the
API with the key the user typed (kept in the browser tab's session storage). Its answers
carry a strict Content-Security-Policy: scripts, styles and requests only from this origin,
audio also from `blob:` URLs (played from downloads made with the key), no framing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from config.settings import StudioSettings

STUDIO_DIR = Path(__file__).resolve().parent.parent / "studio"
PATH = "/studio"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class StudioFiles(StaticFiles):
    """Starlette's static files (ETag, Last-Modified, 304s) with the studio's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI, settings: StudioSettings) -> None:
    """`/studio` redirects to `/studio/` (the page's relative asset paths need the slash);
    with `studio.enabled` false nothing is added, and `/studio` is a plain 404."""
    if not settings.enabled:
        return

    @app.get(PATH, include_in_schema=False)
    async def studio_page() -> RedirectResponse:
        return RedirectResponse(PATH + "/")

    app.mount(PATH, StudioFiles(directory=STUDIO_DIR, html=True), name="studio")
