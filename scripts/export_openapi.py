"""Write docs/openapi.yaml from the service's own FastAPI schema (tests check it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OPENAPI_FILE = ROOT / "docs" / "openapi.yaml"


def render() -> str:
    from service import app

    schema = app.openapi()
    # A route serving GET and HEAD keeps its methods in a set: sort them so the file is stable.
    schema["paths"] = {path: dict(sorted(operations.items())) for path, operations in schema["paths"].items()}
    return yaml.safe_dump(schema, sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    OPENAPI_FILE.write_text(render())
