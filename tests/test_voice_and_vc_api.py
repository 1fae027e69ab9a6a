"""Voice upload (every test format) and voice conversion over HTTP."""

from __future__ import annotations

import pytest

from harness.stacks import RunningService
from harness.testdata import read_testdata
from tests.audio_checks import samples_of, wav_info

FORMATS = [
    ("voice_alex.wav", "wav", 24_000, 1),
    ("voice_alex.mp3", "mp3", 24_000, 1),
    ("voice_alex.ogg", "ogg", 24_000, 1),
    ("voice_bella.flac", "flac", 24_000, 1),
    ("voice_bella_stereo_44k.wav", "wav", 44_100, 2),
]


@pytest.mark.parametrize(("filename", "fmt", "rate", "channels"), FORMATS)
def test_voice_upload_accepts_every_format(service: RunningService, filename: str, fmt: str, rate: int, channels: int) -> None:
    name = "Upload-" + filename.replace(".", "-")
    response = service.client.post("/api/v1/voice", files={"file": (filename, read_testdata(filename))}, data={"name": name})
    assert response.status_code == 201, response.text
    record = response.json()["voice"]
    facts = record["audio"]
    assert (record["name"], facts["format"], facts["sample_rate"], facts["channels"]) == (name, fmt, rate, channels)
    assert service.storage.get(record["original_key"]) == read_testdata(filename)
    reference = wav_info(service.storage.get(record["reference_key"]))
    assert (reference.samplerate, reference.channels) == (24_000, 1)
    assert reference.duration == pytest.approx(facts["duration_seconds"], abs=0.01)


def test_voice_names_are_unique_ignoring_case_and_overwrite_replaces(service: RunningService) -> None:
    post = service.client.post
    first = post("/api/v1/voice", files={"file": ("a.wav", read_testdata("voice_alex.wav"))}, data={"name": "Casey"})
    assert first.status_code == 201, first.text
    clash = post("/api/v1/voice", files={"file": ("b.wav", read_testdata("voice_bella.wav"))}, data={"name": "CASEY"})
    assert clash.status_code == 409 and clash.json()["error"]["field"] == "name"
    replaced = post("/api/v1/voice", files={"file": ("b.wav", read_testdata("voice_bella.wav"))}, data={"name": "casey", "overwrite": "true"})
    assert replaced.status_code == 200 and replaced.json()["created"] is False
    old, new = first.json()["voice"], replaced.json()["voice"]
    assert new["content_hash"] != old["content_hash"]
    keys = service.stored_keys()
    assert old["reference_key"] not in keys and new["reference_key"] in keys  # no orphans left behind


def test_vc_with_uploaded_source_and_library_voice(service: RunningService, voices: dict[str, str]) -> None:
    uses_before = service.client.get(f"/api/v1/voice/{voices['bella']}").json()["voice"]["usage_count"]
    response = service.client.post(
        "/api/v1/vc", files={"input_audio": ("src.wav", read_testdata("source_speech_16k.wav"))}, data={"target_voice": voices["bella"]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["filename"].startswith("vc_") and "voice-fixture-bella" in body["filename"]
    audio = service.client.get(body["url"]).content
    info = wav_info(audio)
    source_seconds = wav_info(read_testdata("source_speech_16k.wav")).duration
    assert info.samplerate == 24_000 and info.duration == pytest.approx(source_seconds, rel=0.1)
    assert body["metadata"]["type"] == "vc" and body["metadata"]["voice"] == voices["bella"]
    assert body["metadata"]["parameters"]["input_upload"] == "src.wav"
    assert service.client.get(f"/api/v1/voice/{voices['bella']}").json()["voice"]["usage_count"] == uses_before + 1


def test_vc_from_stored_output_to_uploaded_target_streamed(service: RunningService, voices: dict[str, str]) -> None:
    tts = service.client.post("/api/v1/tts", json={"text": "Convert me.", "voice": voices["alex"], "seed": 2})
    assert tts.status_code == 200, tts.text
    source = tts.json()
    response = service.client.post(
        "/api/v1/vc",
        files={"target_audio": ("bella.flac", read_testdata("voice_bella.flac"))},
        data={"input_filename": source["filename"], "output_format": "flac", "response_mode": "stream"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/flac"
    assert 'attachment; filename="vc_' in response.headers["content-disposition"]
    converted = samples_of(response.content)
    assert len(converted) / 24_000 == pytest.approx(source["metadata"]["duration_seconds"], abs=0.3)
