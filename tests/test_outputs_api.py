"""Speed, output formats, the outputs browser, deletion, ranged downloads and retention,
through `bentoml serve` on both storage backends."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from api.output_serving import FileDownload, not_found
from audio.decoding import decode
from config import OutputSettings
from db import Database
from db.migrate import head_revision
from db.schema import leases
from harness.stacks import RunningService
from harness.testdata import read_testdata
from outputs.library import OutputLibrary
from outputs.query import OutputListQuery
from outputs.store import OutputMetadata, OutputStore, companion_key, new_output_name
from storage import Storage
from storage.local import LocalStorage

TEXT = "Speed changes the pace, never the pitch."


def tts(service: RunningService, **fields: object) -> dict:
    response = service.client.post("/api/v1/tts", json={"text": TEXT, "seed": 5, "voice": "fixture-alex"} | fields)
    assert response.status_code == 200, response.text
    return response.json()


def concat_output(service: RunningService, **fields: object) -> dict:
    """A stored output made without the model (fast): a real recording, re-encoded."""
    body = {"request": json.dumps({"inputs": [{"upload": 0}]} | fields)}
    response = service.client.post("/api/v1/concat", data=body, files=[("files", ("a.wav", read_testdata("voice_alex.wav")))])
    assert response.status_code == 200, response.text
    return response.json()


def test_speed_factor_scales_duration_and_records_the_library(service: RunningService, voices: dict[str, str]) -> None:
    normal = tts(service, voice=voices["alex"])["metadata"]
    assert normal["parameters"]["speed_factor"] == 1.0 and normal["parameters"]["speed_factor_library_used"] is None
    for factor, library in ((2.0, "librosa"), (0.5, "auto")):
        changed = tts(service, voice=voices["alex"], speed_factor=factor, speed_factor_library=library)["metadata"]
        assert changed["duration_seconds"] == pytest.approx(normal["duration_seconds"] / factor, rel=0.03)
        assert changed["parameters"]["speed_factor_library_used"] == ("audiostretchy" if library == "auto" else library)
    # The voice's default applies when the request sets none.
    service.client.put(f"/api/v1/voice/{voices['alex']}/metadata", json={"defaults": {"speed_factor": 1.5}}).raise_for_status()
    try:
        by_default = tts(service, voice=voices["alex"])["metadata"]
    finally:
        service.client.put(f"/api/v1/voice/{voices['alex']}/metadata", json={"defaults": {"speed_factor": None}}).raise_for_status()
    assert by_default["parameters"]["speed_factor"] == 1.5
    assert by_default["duration_seconds"] == pytest.approx(normal["duration_seconds"] / 1.5, rel=0.03)


FORMATS = [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("aac", "audio/aac"), ("flac", "audio/flac"), ("pcm", "audio/pcm")]


def check_format(service: RunningService, response, fmt: str, content_type: str, rate: int) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    audio = decode(response.content, raw_pcm_rate=rate if fmt == "pcm" else None)
    assert audio.duration_seconds > 0.2
    filename = response.headers["x-output-filename"]
    metadata = service.client.get("/api/v1/outputs", params={"names": filename}).json()["items"][0]
    assert (metadata["format"], metadata["content_type"], metadata["sample_rate"]) == (fmt, content_type, rate)
    download = service.client.get(f"/api/v1/outputs/{filename}")
    assert download.headers["content-type"] == content_type and download.content == response.content


@pytest.mark.parametrize("fmt,content_type", FORMATS)
def test_every_output_format(service: RunningService, fmt: str, content_type: str) -> None:
    body = {"request": json.dumps({"inputs": [{"upload": 0}], "output_format": fmt, "sample_rate": 16000, "response_mode": "stream"})}
    response = service.client.post("/api/v1/concat", data=body, files=[("files", ("a.wav", read_testdata("voice_alex.wav")))])
    check_format(service, response, fmt, content_type, 16000)


def test_tts_and_vc_speak_the_formats_too(service: RunningService, voices: dict[str, str]) -> None:
    """The encoder is shared; this checks the generation routes pass format and rate through."""
    response = service.client.post("/api/v1/tts", json={"text": "Formats.", "voice": voices["alex"], "seed": 1, "output_format": "aac", "sample_rate": 44100, "response_mode": "stream"})
    check_format(service, response, "aac", "audio/aac", 44100)
    vc = service.client.post(
        "/api/v1/vc", data={"target_voice": voices["bella"], "output_format": "pcm", "sample_rate": "8000", "response_mode": "stream"},
        files={"input_audio": ("source.wav", read_testdata("source_speech_16k.wav"))},
    )
    check_format(service, vc, "pcm", "audio/pcm", 8000)


def test_bad_sample_rate_is_refused(service: RunningService) -> None:
    response = service.client.post("/api/v1/tts", json={"text": "x", "sample_rate": 12345})
    assert response.status_code == 422 and response.json()["error"]["field"] == "sample_rate"


def test_outputs_browser(service: RunningService, voices: dict[str, str]) -> None:
    first = tts(service, text="Purple elephants dance at midnight.", voice=voices["alex"])
    second = tts(service, text="A completely ordinary sentence.", voice=voices["bella"], output_format="mp3")
    client = service.client

    found = client.get("/api/v1/outputs", params={"search": "purple ELEPHANTS"}).json()
    assert [item["filename"] for item in found["items"]] == [first["filename"]]
    by_voice = client.get("/api/v1/outputs", params={"voice": voices["bella"].upper(), "page_size": 500}).json()
    assert second["filename"] in {i["filename"] for i in by_voice["items"]} and first["filename"] not in {i["filename"] for i in by_voice["items"]}
    assert {item["voice"] for item in by_voice["items"]} == {voices["bella"]}
    joined = concat_output(service)["filename"]
    tts_only = client.get("/api/v1/outputs", params={"type": "tts", "page_size": 500}).json()["items"]
    assert {first["filename"], second["filename"]} <= {item["filename"] for item in tts_only} and {item["type"] for item in tts_only} == {"tts"}
    concat_only = client.get("/api/v1/outputs", params={"type": "concat", "page_size": 500}).json()["items"]
    assert joined in {item["filename"] for item in concat_only} and {item["type"] for item in concat_only} == {"concat"}
    assert client.get("/api/v1/outputs", params={"type": "concat", "search": "purple"}).json()["total"] == 0

    created = datetime.fromisoformat(first["metadata"]["created_at"])
    window = {"created_after": (created - timedelta(seconds=1)).isoformat(), "created_before": (created + timedelta(milliseconds=1)).isoformat(), "search": "purple"}
    assert client.get("/api/v1/outputs", params=window).json()["total"] == 1
    assert client.get("/api/v1/outputs", params=window | {"created_before": (created - timedelta(seconds=1)).isoformat()}).json()["total"] == 0
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert client.get("/api/v1/outputs", params={"created_after": tomorrow}).json()["total"] == 0

    newest = client.get("/api/v1/outputs", params={"sort": "created", "order": "desc", "page_size": 3}).json()
    assert [item["filename"] for item in newest["items"]] == [joined, second["filename"], first["filename"]]
    by_size = client.get("/api/v1/outputs", params={"sort": "size", "order": "asc", "page_size": 500}).json()["items"]
    sizes = [item["size_bytes"] for item in by_size]
    assert len(set(sizes)) >= 3 and sizes == sorted(sizes)
    paged = client.get("/api/v1/outputs", params={"page": 2, "page_size": 1}).json()
    assert paged["page"] == 2 and len(paged["items"]) == 1 and paged["pages"] == paged["total"]

    lookup = client.get("/api/v1/outputs", params=[("names", second["filename"]), ("names", first["filename"]), ("names", "tts_nope.wav")]).json()
    assert {item["filename"] for item in lookup["items"]} == {first["filename"], second["filename"]} and lookup["missing"] == ["tts_nope.wav"]
    posted = client.post("/api/v1/outputs/lookup", json={"names": [second["filename"], "vc_missing.wav", first["filename"]]}).json()
    assert [item["filename"] for item in posted["items"]] == [second["filename"], first["filename"]] and posted["missing"] == ["vc_missing.wav"]
    assert posted["items"][0]["parameters"]["text"] == "A completely ordinary sentence."


def test_bad_browser_queries(service: RunningService) -> None:
    for params, field in (({"type": "podcast"}, "type"), ({"sort": "loudness"}, "sort"), ({"created_after": "yesterday"}, "created_after"), ({"page_size": 501}, "page_size")):
        response = service.client.get("/api/v1/outputs", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field
    assert service.client.post("/api/v1/outputs/lookup", json={"names": []}).status_code == 422


def test_delete_output_removes_audio_and_companion(service: RunningService) -> None:
    filename = concat_output(service)["filename"]
    assert f"outputs/{filename}" in service.stored_keys() and companion_key(filename) in service.stored_keys()
    response = service.client.delete(f"/api/v1/outputs/{filename}")
    assert response.status_code == 200 and response.json()["deleted"] == filename
    assert f"outputs/{filename}" not in service.stored_keys() and companion_key(filename) not in service.stored_keys()
    assert service.client.get(f"/api/v1/outputs/{filename}").status_code == 404
    assert service.client.get("/api/v1/outputs", params={"names": filename}).json()["missing"] == [filename]
    again = service.client.delete(f"/api/v1/outputs/{filename}")
    assert again.status_code == 404 and again.json()["error"]["field"] == "filename"


def test_range_downloads(service: RunningService) -> None:
    filename = concat_output(service)["filename"]
    whole = service.client.get(f"/api/v1/outputs/{filename}")
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    for header, start, end in (("bytes=0-99", 0, 99), (f"bytes={size - 10}-", size - 10, size - 1), ("bytes=-64", size - 64, size - 1), ("bytes=100-99999999", 100, size - 1)):
        part = service.client.get(f"/api/v1/outputs/{filename}", headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.content == whole.content[start : end + 1]
    beyond = service.client.get(f"/api/v1/outputs/{filename}", headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert service.client.get(f"/api/v1/outputs/{filename}", headers={"Range": "bytes=0-1,4-5"}).status_code == 200


def test_health_reports_the_database(service: RunningService) -> None:
    body = service.client.get("/api/v1/health").json()
    database = body["database"]
    assert database["ready"] is True and database["engine"] == ("sqlite" if service.backend == "local" else "postgresql")
    assert database["migration"] == head_revision() and "outputs" not in database  # a probe reads no table: its cost is the same at any size


# --- the library on its own: retention and replicas, on both storage backends and both databases ---


def fake_output(library: OutputLibrary, created: datetime, size: int, text: str = "x") -> OutputMetadata:
    filename = new_output_name("tts", "wav", {"t": text}, now=created)
    metadata = OutputMetadata(
        filename=filename, type="tts", created_at=created, format="wav", content_type="audio/wav", sample_rate=24000,
        duration_seconds=1.0, size_bytes=size, generation_seconds=0.1, model_source="random", voice=None, parameters={"text": text},
    )
    library.save(b"\0" * size, metadata)
    return metadata


def settings(**overrides: float) -> OutputSettings:
    values = {"retention_check_seconds": 60, "max_age_days": 0, "max_total_bytes": 0, "download_mode": "proxy", "redirect_seconds": 300}
    return OutputSettings(**(values | overrides))


def test_retention_deletes_oldest_first(storage: Storage, database: Database) -> None:
    library = OutputLibrary(OutputStore(storage), database, settings(max_age_days=30, max_total_bytes=250))
    now = datetime.now(timezone.utc)
    ancient = fake_output(library, now - timedelta(days=40), 100)
    old, middle, new = (fake_output(library, now - timedelta(days=days), 100) for days in (20, 10, 1))
    assert library.enforce_retention(now) == [ancient.filename, old.filename]
    remaining = {info.key for info in storage.list_objects("outputs/")}
    assert remaining == {f"outputs/{m.filename}" for m in (middle, new)} | {companion_key(m.filename) for m in (middle, new)}
    assert library.enforce_retention(now) == [] and library.list(OutputListQuery())[1] == (2, True)
    assert OutputLibrary(OutputStore(storage), database, settings()).enforce_retention(now) == []  # no policy, no deletes


def test_one_replica_at_a_time_runs_retention(database: Database, tmp_path) -> None:
    """From reading the code: every replica ran retention at once, each listing and deleting
    the same outputs. A lease lets one do it; the other takes over once it lapses."""
    storage = LocalStorage(tmp_path / "store")
    first, second = (OutputLibrary(OutputStore(storage), database, settings(max_age_days=30, retention_check_seconds=1)) for _ in range(2))
    fake_output(first, datetime.now(timezone.utc) - timedelta(days=40), 100)
    assert second.retention_turn() is not None  # it took the lease (and deleted the old output)
    assert first.retention_turn() is None  # skipped: the other replica holds it
    assert second.retention_turn() == []  # the holder renews it
    with database.write() as connection:  # the holder dies: its lease runs out
        connection.execute(update(leases).values(holder="a replica that died", expires_at=0.0))
    assert first.retention_turn() == []  # taken over from the lapsed holder; the other replica's delete is seen
    assert second.retention_turn() is None


def test_replicas_list_each_others_outputs_at_once(storage: Storage, database: Database) -> None:
    now = datetime.now(timezone.utc)
    one, two = (OutputLibrary(OutputStore(storage), database, settings()) for _ in range(2))
    written = [fake_output(one, now, 10, f"word{i}") for i in range(3)]
    assert two.get(written[0].filename).filename == written[0].filename
    assert [m.filename for m in two.list(OutputListQuery(search="WORD2"))[0]] == [written[2].filename]
    two.delete(written[1].filename)
    assert one.list(OutputListQuery())[1] == (2, True) and not storage.exists(companion_key(written[1].filename))
    page, total, missing = one.list(OutputListQuery(names=[written[0].filename, written[1].filename]))
    assert [m.filename for m in page] == [written[0].filename] and total == (1, True) and missing == [written[1].filename]


def test_sorted_pages_stay_correct_as_outputs_come_and_go(database: Database, tmp_path) -> None:
    library = OutputLibrary(OutputStore(LocalStorage(tmp_path / "store")), database, settings())
    now = datetime.now(timezone.utc)
    made = [fake_output(library, now - timedelta(minutes=n), 100 + (n % 3), f"w{n}") for n in range(7)]
    newest_first = [m.filename for m in sorted(made, key=lambda m: m.created_at, reverse=True)]

    def names(**query: object) -> list[str]:
        return [m.filename for m in library.list(OutputListQuery(**query))[0]]

    assert names(page_size=3) == newest_first[:3] and names(page_size=3, page=3) == newest_first[6:]
    assert names(order="asc", page_size=2, page=2) == newest_first[::-1][2:4]
    by_size = names(sort="size", order="asc", page_size=10)
    assert [library.get(n).size_bytes for n in by_size] == sorted(m.size_bytes for m in made)
    assert by_size == sorted(newest_first, key=lambda n: (library.get(n).size_bytes, n))  # ties by name
    newer = fake_output(library, now + timedelta(minutes=1), 1, "fresh")
    assert names(page_size=1) == [newer.filename]
    library.delete(newer.filename)
    assert names(page_size=1) == [newest_first[0]]


def test_request_metrics_name_routes_not_files(service: RunningService, voices: dict[str, str]) -> None:
    """Every output downloaded or voice read would otherwise add series of its own to
    /metrics forever (api/metrics_labels.py); a path no route serves is `unmatched`."""
    token = secrets.token_hex(6)
    for path in (f"/api/v1/outputs/tts_{token}.wav", f"/api/v1/voice/{voices['alex']}", f"/no/such/path/{token}"):
        service.client.get(path)
    endpoints = {
        sample.labels["endpoint"]
        for family in text_string_to_metric_families(service.client.get("/metrics").text)
        for sample in family.samples
        if "endpoint" in sample.labels and sample.labels.get("runner_name", "chatterbox") == "chatterbox"
    }
    assert {"/api/v1/outputs/{filename}", "/api/v1/voice/{name}", "unmatched"} <= endpoints
    assert not any(token in endpoint or voices["alex"] in endpoint for endpoint in endpoints), sorted(endpoints)


def test_a_file_deleted_before_its_download_starts_is_a_404(tmp_path) -> None:
    """The local download opens the file before answering: an output deleted between the
    size check and the send (another client's DELETE) is a clean 404, never a cut answer."""
    path = tmp_path / "tts_x.wav"
    path.write_bytes(b"RIFF" + b"\0" * 100)

    async def download(deleted_first: bool) -> httpx.Response:
        async def app(scope, receive, send) -> None:
            response = FileDownload(path, use_range=False, not_found=not_found("tts_x.wav").response(), media_type="audio/wav")
            if deleted_first:
                path.unlink()
            await response(scope, receive, send)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            return await client.get("/api/v1/outputs/tts_x.wav")

    whole = asyncio.run(download(deleted_first=False))
    assert whole.status_code == 200 and whole.content == b"RIFF" + b"\0" * 100 and whole.headers["content-length"] == "104"
    gone = asyncio.run(download(deleted_first=True))
    assert gone.status_code == 404 and gone.json()["error"]["field"] == "filename"
