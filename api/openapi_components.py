"""Models the OpenAPI document describes although no route's signature names them: the
concatenation body (its route reads JSON or multipart itself) and the WebSocket's messages
(WebSocket routes have no OpenAPI operation). Listed in the components, they are documented
with the rest, and the Python SDK's generated models include them."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


def document_components(app: FastAPI, models: Iterable[type[BaseModel]]) -> None:
    listed = list(models)

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = document["components"]["schemas"]
            for model in listed:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}) | {model.__name__: schema})
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
