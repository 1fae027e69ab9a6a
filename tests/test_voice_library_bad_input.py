"""Bad input to every voice-library endpoint: a 4xx naming the field, storage unchanged, no
temp file left; traversal payloads through every endpoint that takes a name."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import unquote

import pytest

from harness.stacks import RunningService
from harness.testdata import read_testdata
from tests.conftest import assert_error

TRAVERSAL_NAMES = ["%2E%2E", "...", ".hidden", "a..b", "-dash", "x" * 65, "new%0Aline", "%00", "name%20space"]
TRAVERSAL_PATHS = ["..%2F..%2Fetc%2Fpasswd", "a%2Fb", "%2Fetc%2Fpasswd", "..%2Fvoices%2Ffixture-alex"]


def voice_file() -> dict:
    return {"file": ("v.wav", read_testdata("voice_alex.wav"))}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "ok-name", "folder": "../up"}, "folder"),
        ({"name": "ok-name", "folder": "/abs"}, "folder"),
        ({"name": "ok-name", "folder": "a//b"}, "folder"),
        ({"name": "ok-name", "folder": "/".join(["deep"] * 9)}, "folder"),
        ({"name": "ok-name", "tags": "ok,bad tag"}, "tags"),
        ({"name": "ok-name", "tags": ",".join(f"t{i}" for i in range(33))}, "tags"),
        ({"name": "ok-name", "exaggeration": "2.5"}, "exaggeration"),
        ({"name": "ok-name", "cfg_weight": "-0.1"}, "cfg_weight"),
        ({"name": "ok-name", "temperature": "0"}, "temperature"),
        ({"name": "ok-name", "speed_factor": "5"}, "speed_factor"),
        ({"name": "ok-name", "speed_factor": "fast"}, "speed_factor"),
        ({"name": "ok-name", "display_name": "x" * 129}, "display_name"),
        ({"name": "ok-name", "description": "bell\x07"}, "description"),
        ({"name": "ok-name", "overwrite": "maybe"}, "overwrite"),
    ],
)
def test_voice_upload_rejects_bad_metadata(service: RunningService, unchanged: None, data: dict, field: str) -> None:
    assert_error(service.client.post("/api/v1/voice", files=voice_file(), data=data), 422, field)


def test_voice_upload_of_an_existing_name_is_a_conflict(service: RunningService, unchanged: None, voices: dict[str, str]) -> None:
    response = service.client.post("/api/v1/voice", files=voice_file(), data={"name": voices["alex"].upper()})
    assert_error(response, 409, "name")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"sort": "loudness"}, "sort"),
        ({"order": "up"}, "order"),
        ({"folder": "../x"}, "folder"),
        ({"tag": "no spaces allowed"}, "tag"),
        ({"name": "../x"}, "name"),
        ({"search": "x" * 201}, "search"),
    ],
)
def test_voice_listing_rejects_bad_parameters(service: RunningService, unchanged: None, params: dict, field: str) -> None:
    assert_error(service.client.get("/api/v1/voices", params=params), 422, field)


@pytest.mark.parametrize(
    ("method", "url", "params", "status", "field"),
    [
        ("DELETE", "/api/v1/voices", {}, 400, "all"),
        ("DELETE", "/api/v1/voices", {"confirm": "true"}, 400, "all"),
        ("DELETE", "/api/v1/voices", {"folder": "/etc", "confirm": "true"}, 422, "folder"),
        ("DELETE", "/api/v1/voices", {"name": "..", "confirm": "true"}, 422, "name"),
        ("GET", "/api/v1/voices/stats", {"limit": "0"}, 422, "limit"),
        ("GET", "/api/v1/voices/export", {"folder": "../voices"}, 422, "folder"),
        ("GET", "/api/v1/voice/fixture-alex/audio", {"variant": "raw"}, 422, "variant"),
        ("DELETE", "/api/v1/voice/fixture-alex", {"confirm": "perhaps"}, 422, "confirm"),
        ("DELETE", "/api/v1/voice/fixture-alex", {}, 400, "confirm"),
        ("DELETE", "/api/v1/voice/nobody-here", {"confirm": "true"}, 404, "name"),
        ("GET", "/api/v1/voice/nobody-here", {}, 404, "name"),
    ],
)
def test_voice_endpoints_reject_bad_queries(service: RunningService, unchanged: None, method: str, url: str, params: dict, status: int, field: str) -> None:
    assert_error(service.client.request(method, url, params=params), status, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"nmae": "typo"}, "nmae"),
        ({"name": None}, "name"),
        ({"name": "../escape"}, "name"),
        ({"folder": "a/../b"}, "folder"),
        ({"tags": ["ok", ""]}, "tags"),
        ({"tags": "not-a-list"}, "tags"),
        ({"defaults": {"exaggeration": 9}}, "defaults.exaggeration"),
        ({"defaults": {"pitch": 1}}, "defaults.pitch"),
        ({"display_name": "tab\tok but\x1bescape"}, "display_name"),
    ],
)
def test_metadata_update_rejects_bad_bodies(service: RunningService, unchanged: None, voices: dict[str, str], body: dict, field: str) -> None:
    assert_error(service.client.put(f"/api/v1/voice/{voices['alex']}/metadata", json=body), 422, field)


def test_metadata_update_of_unknown_voice_and_stale_etag(service: RunningService, unchanged: None, voices: dict[str, str]) -> None:
    assert_error(service.client.put("/api/v1/voice/nobody-here/metadata", json={"description": "x"}), 404, "name")
    stale = service.client.put(f"/api/v1/voice/{voices['bella']}/metadata", headers={"If-Match": '"0000"'}, json={"description": "x"})
    assert_error(stale, 412, "If-Match")


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_names_are_checked_on_every_endpoint(service: RunningService, unchanged: None, name: str) -> None:
    client = service.client
    if "%0A" not in name:  # a raw newline in a path is refused by BentoML's router (plain 404) before it reaches the API
        for response in (
            client.get(f"/api/v1/voice/{name}"),
            client.get(f"/api/v1/voice/{name}/audio"),
            client.put(f"/api/v1/voice/{name}/metadata", json={"description": "x"}),
            client.delete(f"/api/v1/voice/{name}", params={"confirm": "true"}),
        ):
            assert_error(response, 422, "name")
    assert_error(client.post("/api/v1/voice", files=voice_file(), data={"name": unquote(name)}), 422, "name")
    assert_error(client.put("/api/v1/voice/fixture-alex/metadata", json={"name": unquote(name)}), 422, "name")
    assert_error(client.get("/api/v1/voices", params={"name": unquote(name)}), 422, "name")
    assert_error(client.post("/api/v1/tts", json={"text": "Hi.", "voice": unquote(name)}), 422, "voice")


@pytest.mark.parametrize("path", TRAVERSAL_PATHS)
def test_encoded_slashes_never_reach_storage(service: RunningService, unchanged: None, path: str) -> None:
    """An encoded slash splits the name into path segments: no voice route matches, so no
    handler (and no storage key) ever sees it; the catch-all answers in the API's shape."""
    for method, suffix in (("GET", ""), ("GET", "/audio"), ("DELETE", ""), ("PUT", "/metadata")):
        response = service.client.request(method, f"/api/v1/voice/{path}{suffix}", json={"description": "x"} if method == "PUT" else None)
        assert_error(response, 404, None)
        assert response.json()["error"]["message"].startswith(f"no route {method} /api/v1/voice/{unquote(path)}{suffix}")


def test_bulk_upload_rejects_bad_requests(service: RunningService, unchanged: None) -> None:
    post = service.client.post
    assert_error(post("/api/v1/voices/bulk", data={"folder": "x"}), 422, "files")
    assert_error(post("/api/v1/voices/bulk", files=[("files", ("a.wav", read_testdata("voice_alex.wav")))], data={"folder": "../x"}), 422, "folder")
    assert_error(post("/api/v1/voices/bulk", files=[("files", ("a.wav", read_testdata("voice_alex.wav")))], data={"tags": "bad tag"}), 422, "tags")
    assert_error(post("/api/v1/voices/bulk", files=[("archive", ("a.zip", b"not a zip"))]), 400, "archive")
    escaping = io.BytesIO()
    with zipfile.ZipFile(escaping, "w") as archive:
        archive.writestr("../../escape.wav", read_testdata("voice_alex.wav"))
    result = post("/api/v1/voices/bulk", files=[("archive", ("a.zip", escaping.getvalue()))]).json()
    assert result["results"][0]["status"] == "failed" and result["results"][0]["error"]["field"] == "archive"


def test_import_rejects_bad_archives(service: RunningService, unchanged: None) -> None:
    post = service.client.post
    no_manifest = io.BytesIO()
    with zipfile.ZipFile(no_manifest, "w") as archive:
        archive.writestr("voices/x/voice.json", "{}")
    assert_error(post("/api/v1/voices/import", data={"on_conflict": "skip"}), 422, "archive")
    assert_error(post("/api/v1/voices/import", files={"archive": ("x.zip", b"PK not really")}), 400, "archive")
    response = post("/api/v1/voices/import", files={"archive": ("x.zip", no_manifest.getvalue())})
    assert_error(response, 400, "archive")
    assert "manifest.json" in response.json()["error"]["message"]
    assert_error(post("/api/v1/voices/import", files={"archive": ("x.zip", no_manifest.getvalue())}, data={"on_conflict": "merge"}), 422, "on_conflict")
