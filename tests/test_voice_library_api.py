"""The voice library over HTTP, on both storage backends: the whole lifecycle from upload to
export, wipe and import, plus usage counting, bulk upload and another replica's writes."""

from __future__ import annotations

import io
import zipfile

import pytest

from config import VoiceSettings
from contract.voice_layout import audio_keys, folder_key, record_key
from harness.processes import wait_until
from harness.stacks import USAGE_FLUSH_SECONDS, RunningService
from harness.testdata import read_testdata
from tests.conftest import assert_error
from voices.library import VoiceLibrary
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.store import VoiceStore

UPLOADS = [  # (file, name, folder, tags): every format in the test data
    ("voice_alex.wav", "Alex", "lib/narrators/en", ["english", "male"]),
    ("voice_alex.mp3", "alex-mp3", "lib/narrators/en", ["english", "compressed"]),
    ("voice_alex.ogg", "alex-ogg", "lib/narrators", ["compressed"]),
    ("voice_bella.flac", "Bella", "lib/narrators", ["english", "female"]),
    ("voice_bella_stereo_44k.wav", "bella-stereo", "lib", ["female", "stereo"]),
]


def upload(service: RunningService, filename: str, name: str, **fields) -> dict:
    response = service.client.post("/api/v1/voice", files={"file": (filename, read_testdata(filename))}, data={"name": name, **fields})
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == response.json()["etag"]
    return response.json()["voice"]


def names_of(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [voice["name"] for voice in response.json()["items"]]


def listing(service: RunningService, **params) -> list[str]:
    return names_of(service.client.get("/api/v1/voices", params={"page_size": 200, **params}))


@pytest.fixture(scope="module")
def library(service: RunningService) -> dict[str, dict]:
    """The five test voices, uploaded with metadata into the `lib` folder tree."""
    voices = {}
    for filename, name, folder, tags in UPLOADS:
        voices[name] = upload(
            service, filename, name, folder=folder, tags=",".join(tags), description=f"{name} reads the {folder} shelf", exaggeration="0.6"
        )
    return voices


def test_upload_records_audio_facts_quality_and_metadata(service: RunningService, library: dict[str, dict]) -> None:
    stereo = library["bella-stereo"]
    assert (stereo["audio"]["sample_rate"], stereo["audio"]["channels"], stereo["audio"]["format"]) == (44_100, 2, "wav")
    assert library["alex-mp3"]["audio"]["format"] == "mp3" and library["alex-ogg"]["audio"]["format"] == "ogg"
    for voice in library.values():
        facts = voice["audio"]
        assert 3 < facts["duration_seconds"] < 30
        assert -40 < facts["loudness_lufs"] < 0 and facts["peak_dbfs"] <= 0
        assert 0 <= facts["silence_ratio"] < 0.5 and facts["snr_db"] > 20
        assert voice["quality"] == {"verdict": "good", "warnings": []}
        assert voice["defaults"]["exaggeration"] == 0.6 and voice["usage_count"] == 0
        reference = service.storage.get(voice["reference_key"])
        assert service.client.get(f"/api/v1/voice/{voice['name']}/audio", params={"variant": "reference"}).content == reference
    original = service.client.get("/api/v1/voice/alex-mp3/audio")
    assert original.content == read_testdata("voice_alex.mp3") and original.headers["content-type"] == "audio/mpeg"
    assert library["Alex"]["tags"] == ["english", "male"]


def test_list_search_filter_sort_and_paginate(service: RunningService, library: dict[str, dict]) -> None:
    assert listing(service, folder="lib") == ["Alex", "alex-mp3", "alex-ogg", "Bella", "bella-stereo"]
    assert listing(service, folder="lib", include_subfolders=False) == ["bella-stereo"]
    assert listing(service, folder="lib/narrators", include_subfolders=False) == ["alex-ogg", "Bella"]
    assert listing(service, folder="lib", tag=["english", "female"]) == ["Bella"]
    assert listing(service, folder="lib", tag="ENGLISH") == ["Alex", "alex-mp3", "Bella"]
    assert listing(service, search="narrators/en shelf") == ["Alex", "alex-mp3"]
    assert listing(service, folder="lib", search="BELLA") == ["Bella", "bella-stereo"]
    assert listing(service, folder="lib", sort="created", order="desc") == ["bella-stereo", "Bella", "alex-ogg", "alex-mp3", "Alex"]
    durations = {name: voice["audio"]["duration_seconds"] for name, voice in library.items()}
    assert listing(service, folder="lib", sort="duration") == sorted(durations, key=lambda n: (durations[n], n.casefold()))
    assert listing(service, folder="lib", name=["bella", "ALEX"]) == ["Alex", "Bella"]

    pages = [service.client.get("/api/v1/voices", params={"folder": "lib", "page_size": 2, "page": page}).json() for page in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [5] * 4 and pages[0]["pages"] == 3
    assert [v["name"] for p in pages for v in p["items"]] == ["Alex", "alex-mp3", "alex-ogg", "Bella", "bella-stereo"]


def test_folder_tree_counts(service: RunningService, library: dict[str, dict]) -> None:
    root = service.client.get("/api/v1/voices/folders").json()
    [lib] = [child for child in root["children"] if child["path"] == "lib"]
    assert (lib["voice_count"], lib["total_count"]) == (1, 5)
    [narrators] = lib["children"]
    assert (narrators["path"], narrators["voice_count"], narrators["total_count"]) == ("lib/narrators", 2, 4)
    assert [(c["path"], c["name"], c["voice_count"]) for c in narrators["children"]] == [("lib/narrators/en", "en", 2)]
    assert root["total_count"] >= 5


def test_update_rename_move_and_stale_update(service: RunningService) -> None:
    upload(service, "voice_alex.wav", "Edit-Me", folder="edits", tags="one")
    current = service.client.get("/api/v1/voice/edit-me")
    etag = current.headers["etag"]
    changed = service.client.put(
        "/api/v1/voice/edit-me/metadata", headers={"If-Match": etag},
        json={"display_name": "Edited", "tags": ["one", "Two"], "defaults": {"cfg_weight": 0.3}},
    )
    assert changed.status_code == 200, changed.text
    voice = changed.json()["voice"]
    assert (voice["display_name"], voice["tags"], voice["defaults"]["cfg_weight"], voice["description"]) == ("Edited", ["one", "two"], 0.3, "")
    assert changed.headers["etag"] != etag and voice["updated_at"] > voice["created_at"]

    before = service.stored_state()
    stale = service.client.put("/api/v1/voice/edit-me/metadata", headers={"If-Match": etag}, json={"description": "lost?"})
    assert_error(stale, 412, "If-Match")
    assert service.stored_state() == before

    old_keys = {voice["original_key"], voice["reference_key"]}
    moved = service.client.put(
        "/api/v1/voice/EDIT-ME/metadata", headers={"If-Match": changed.headers["etag"]}, json={"name": "Edited-Voice", "folder": "edits/done"}
    )
    assert moved.status_code == 200, moved.text
    renamed = moved.json()["voice"]
    assert (renamed["name"], renamed["folder"], renamed["display_name"], renamed["content_hash"]) == ("Edited-Voice", "edits/done", "Edited", voice["content_hash"])
    assert service.client.get("/api/v1/voice/edit-me").status_code == 404
    keys = service.stored_keys()
    assert not old_keys & keys and {renamed["original_key"], renamed["reference_key"]} <= keys
    assert not any(key.startswith(folder_key("edit-me")) for key in keys) and record_key("edit-me") not in keys
    assert listing(service, folder="edits") == ["Edited-Voice"]

    upload(service, "voice_bella.wav", "Taken")
    assert_error(service.client.put("/api/v1/voice/edited-voice/metadata", json={"name": "TAKEN"}), 409, "name")


def test_metadata_only_update_through_post(service: RunningService) -> None:
    upload(service, "voice_bella.wav", "Post-Edit", description="before")
    response = service.client.post("/api/v1/voice", data={"name": "post-edit", "description": "after", "temperature": "0.5"})
    assert response.status_code == 200, response.text
    voice = response.json()["voice"]
    assert (voice["description"], voice["defaults"]["temperature"], voice["name"]) == ("after", 0.5, "Post-Edit")
    assert_error(service.client.post("/api/v1/voice", data={"name": "nobody-here", "description": "x"}), 404, "name")


def test_delete_needs_confirmation_and_removes_everything(service: RunningService) -> None:
    voice = upload(service, "voice_alex.wav", "Doomed", folder="doomed", tags="bye")
    upload(service, "voice_bella.wav", "Doomed-Too", folder="doomed/deeper", tags="bye")
    before = service.stored_state()
    preview = service.client.delete("/api/v1/voice/doomed")
    assert_error(preview, 400, "confirm")
    assert preview.json()["would_delete"] == ["Doomed"] and service.stored_state() == before

    deleted = service.client.delete("/api/v1/voice/DOOMED", params={"confirm": "true"})
    assert deleted.json() == {"deleted": ["Doomed"], "count": 1}
    assert not {voice["original_key"], voice["reference_key"]} & service.stored_keys()
    assert not any(key.startswith(folder_key("doomed")) for key in service.stored_keys())
    assert record_key("doomed") not in service.stored_keys()
    assert service.client.get("/api/v1/voice/doomed").status_code == 404

    dry_run = service.client.delete("/api/v1/voices", params={"tag": "bye"})
    assert_error(dry_run, 400, "confirm")
    assert dry_run.json()["would_delete"] == ["Doomed-Too"]
    assert service.client.delete("/api/v1/voices", params={"folder": "doomed", "confirm": "true"}).json()["deleted"] == ["Doomed-Too"]
    assert listing(service, folder="doomed") == []


def test_export_wipe_import_restores_identical_voices(service: RunningService) -> None:
    for filename, name in (("voice_alex.ogg", "Keep-A"), ("voice_bella_stereo_44k.wav", "keep-b")):
        upload(service, filename, name, folder="backup", tags="saved", description="kept safe")
    exported = service.client.get("/api/v1/voices/export", params={"folder": "backup"})
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    assert exported.headers["x-voice-count"] == "2"
    originals = {
        name: (service.client.get(f"/api/v1/voice/{name}").json(), service.client.get(f"/api/v1/voice/{name}/audio").content)
        for name in ("Keep-A", "keep-b")
    }
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert archive.testzip() is None and "manifest.json" in archive.namelist()

    assert service.client.delete("/api/v1/voices", params={"folder": "backup", "confirm": "true"}).json()["count"] == 2
    assert listing(service, folder="backup") == []

    imported = service.client.post("/api/v1/voices/import", files={"archive": ("backup.zip", exported.content)})
    assert imported.status_code == 200, imported.text
    assert imported.json()["counts"]["imported"] == 2
    storage_keys = {"original_key", "reference_key"}  # each write names its own objects
    for name, (record, audio) in originals.items():
        restored = service.client.get(f"/api/v1/voice/{name}").json()
        assert restored["etag"] == record["etag"]
        assert {k: v for k, v in restored["voice"].items() if k not in storage_keys} == {k: v for k, v in record["voice"].items() if k not in storage_keys}
        assert service.client.get(f"/api/v1/voice/{name}/audio").content == audio

    again = service.client.post("/api/v1/voices/import", files={"archive": ("backup.zip", exported.content)}).json()
    assert again["counts"]["skipped"] == 2
    renamed = service.client.post("/api/v1/voices/import", files={"archive": ("b.zip", exported.content)}, data={"on_conflict": "rename"}).json()
    assert sorted(r["imported_as"] for r in renamed["results"]) == ["Keep-A-2", "keep-b-2"]
    overwritten = service.client.post("/api/v1/voices/import", files={"archive": ("b.zip", exported.content)}, data={"on_conflict": "overwrite"}).json()
    assert overwritten["counts"]["overwritten"] == 2


def test_import_verifies_checksums_per_voice(service: RunningService) -> None:
    upload(service, "voice_alex.wav", "Check-A", folder="checks")
    upload(service, "voice_bella.wav", "Check-B", folder="checks")
    exported = service.client.get("/api/v1/voices/export", params={"folder": "checks"}).content
    service.client.delete("/api/v1/voices", params={"folder": "checks", "confirm": "true"})
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(exported)) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "voices/Check-B/reference.wav":
                data = data[:-100] + bytes(100)  # same size, different audio
            target.writestr(item.filename, data)
    result = service.client.post("/api/v1/voices/import", files={"archive": ("t.zip", tampered.getvalue())}).json()
    statuses = {r["name"]: (r["status"], r["error"]) for r in result["results"]}
    assert statuses["Check-A"] == ("imported", None)
    assert statuses["Check-B"][0] == "failed" and "checksum" in statuses["Check-B"][1]
    assert listing(service, folder="checks") == ["Check-A"]


def test_bulk_upload_reports_each_file(service: RunningService) -> None:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("team/en/Nora Reads (take 2).flac", read_testdata("voice_bella.flac"))
        archive.writestr("team/broken.wav", read_testdata("truncated.wav"))
        archive.writestr("notes.txt", b"not audio")
    before = service.stored_keys()
    response = service.client.post(
        "/api/v1/voices/bulk",
        files=[("files", ("bulk-one.wav", read_testdata("voice_alex.wav"))), ("files", ("junk.wav", read_testdata("not_audio.wav"))),
               ("archive", ("voices.zip", zipped.getvalue()))],
        data={"folder": "bulk", "tags": "batch"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    results = {r["filename"]: r for r in body["results"]}
    assert (body["created"], body["failed"]) == (2, 3)
    assert results["bulk-one.wav"]["voice"]["folder"] == "bulk" and results["bulk-one.wav"]["voice"]["tags"] == ["batch"]
    assert results["team/en/Nora Reads (take 2).flac"]["name"] == "Nora-Reads-take-2"
    assert results["team/en/Nora Reads (take 2).flac"]["voice"]["folder"] == "bulk/team/en"
    assert results["junk.wav"]["error"]["field"] == "files" and "not a readable audio file" in results["junk.wav"]["error"]["message"]
    assert "truncated" in results["team/broken.wav"]["error"]["message"]
    assert results["notes.txt"]["status"] == "failed"
    added = service.stored_keys() - before
    assert added == {record_key("bulk-one"), record_key("nora-reads-take-2")} | {
        results[f]["voice"][key] for f in ("bulk-one.wav", "team/en/Nora Reads (take 2).flac") for key in ("original_key", "reference_key")
    }
    again = service.client.post("/api/v1/voices/bulk", files=[("files", ("bulk-one.wav", read_testdata("voice_alex.wav")))]).json()
    assert again["results"][0]["error"]["type"] == "conflict"


def test_tts_uses_voice_defaults_and_counts_uses(service: RunningService) -> None:
    upload(service, "voice_alex.wav", "Counted", folder="usage", exaggeration="0.9", cfg_weight="0.3")
    cache_before = service.client.get("/api/v1/health").json()["tts"]["conditioning_cache_entries"]
    response = service.client.post("/api/v1/tts", json={"text": "Count me.", "voice": "counted", "seed": 4, "cfg_weight": 0.4})
    assert response.status_code == 200, response.text
    parameters = response.json()["metadata"]["parameters"]
    assert (parameters["exaggeration"], parameters["cfg_weight"], parameters["temperature"]) == (0.9, 0.4, 0.8)
    assert service.client.get("/api/v1/health").json()["tts"]["conditioning_cache_entries"] == cache_before + 1

    voice = service.client.get("/api/v1/voice/counted").json()["voice"]
    assert voice["usage_count"] == 1 and voice["last_used_at"] is not None
    stats = service.client.get("/api/v1/voices/stats", params={"limit": 1000}).json()
    assert {"name": "Counted", "folder": "usage", "usage_count": 1, "last_used_at": voice["last_used_at"]} in stats["most_used"]
    assert "Counted" not in [v["name"] for v in stats["never_used"]]
    assert {"folder": "usage", "voices": 1, "uses": 1, "never_used": 0} in stats["per_folder"]

    store = VoiceStore(service.storage)
    wait_until(lambda: store.read_records([record_key("counted")])[0].usage_count == 1, 10 * USAGE_FLUSH_SECONDS, "use count copied to the record in storage")
    assert service.client.delete("/api/v1/voice/counted", params={"confirm": "true"}).status_code == 200
    assert service.client.get("/api/v1/health").json()["tts"]["conditioning_cache_entries"] == cache_before


def test_another_replicas_writes_show_up_at_once(service: RunningService) -> None:
    """A second replica (a `VoiceLibrary` on the stack's database and store, as the service
    builds it) creates, edits and deletes a voice: this one lists each change at once."""
    created = upload(service, "voice_bella.wav", "Replica-Src", folder="replica")
    database = service.database()
    other = VoiceLibrary(VoiceStore(service.storage), database, VoiceSettings(usage_flush_seconds=60, read_workers=4))
    try:
        source = other.get("replica-src")
        twin = VoiceMetadata.model_validate(created | {"name": "Replica-Twin", "description": "written by another replica"})
        original, reference = (service.storage.get(key) for key in (source.original_key, source.reference_key))
        original_key, reference_key = audio_keys("Replica-Twin", twin.content_hash, "wav")
        other.save("Replica-Twin", lambda _: twin.model_copy(update={"original_key": original_key, "reference_key": reference_key}), original, reference, overwrite=False)
        assert listing(service, folder="replica") == ["Replica-Src", "Replica-Twin"]
        other.update("replica-twin", VoiceMetadataPatch(description="edited there"), None)
        assert service.client.get("/api/v1/voice/replica-twin").json()["voice"]["description"] == "edited there"
        other.delete("replica-twin")
        assert listing(service, folder="replica") == ["Replica-Src"]
    finally:
        database.close()


def test_every_listing_pages_by_one_rule(service: RunningService, voices: dict[str, str]) -> None:
    """The voice library and the outputs browser share one paging model: `pages` counts the
    pages there are, and an empty listing has one page with nothing on it."""
    for path, params in (("/api/v1/voices", {"search": "nothing-is-called-this"}), ("/api/v1/outputs", {"search": "nothing-is-called-this"})):
        empty = service.client.get(path, params=params).json()
        assert (empty["items"], empty["total"], empty["page"], empty["pages"]) == ([], 0, 1, 1), path
    listing = service.client.get("/api/v1/voices", params={"page_size": 1}).json()
    assert listing["total"] >= 2 and listing["pages"] == listing["total"]
