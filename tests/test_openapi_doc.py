"""docs/openapi.yaml is the service's real schema, not a hand-kept copy that drifts."""

from __future__ import annotations

from scripts.export_openapi import OPENAPI_FILE, render


def test_openapi_file_is_current() -> None:
    assert OPENAPI_FILE.read_text() == render(), "run: .venv/bin/python scripts/export_openapi.py"


def test_every_route_is_documented() -> None:
    text = OPENAPI_FILE.read_text()
    paths = (
        "/api/v1/health", "/api/v1/tts", "/api/v1/vc", "/api/v1/voice", "/api/v1/voices", "/api/v1/voices/bulk", "/api/v1/voices/folders",
        "/api/v1/voices/stats", "/api/v1/voices/export", "/api/v1/voices/import", "/api/v1/voice/{name}", "/api/v1/voice/{name}/audio",
        "/api/v1/voice/{name}/metadata", "/api/v1/outputs/{filename}",
    )
    for path in paths:
        assert f"{path}:" in text
