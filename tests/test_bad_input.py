"""Bad input gets a 4xx naming the field; nothing is stored and no temp file is left."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from harness.stacks import MAX_UPLOAD_BYTES, RunningService
from harness.testdata import read_testdata
from tests.conftest import assert_error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n  "}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "Hi.", "exaggeration": 0.1}, "exaggeration"),
        ({"text": "Hi.", "exaggeration": 2.5}, "exaggeration"),
        ({"text": "Hi.", "cfg_weight": 1.5}, "cfg_weight"),
        ({"text": "Hi.", "temperature": 0.0}, "temperature"),
        ({"text": "Hi.", "temperature": 5.1}, "temperature"),
        ({"text": "Hi.", "seed": -1}, "seed"),
        ({"text": "Hi.", "output_format": "wma"}, "output_format"),
        ({"text": "Hi.", "response_mode": "email"}, "response_mode"),
        ({"text": "Hi.", "exageration": 0.7}, "exageration"),
        ({"text": "Hi.", "voice": "../../etc/passwd"}, "voice"),
        ({"text": "Hi.", "voice": "a/b"}, "voice"),
        ({}, "text"),
    ],
)
def test_tts_rejects_invalid_fields(service: RunningService, unchanged: None, body: dict, field: str) -> None:
    assert_error(service.client.post("/api/v1/tts", json=body), 422, field)


def test_tts_unknown_voice_is_404(service: RunningService, unchanged: None) -> None:
    response = service.client.post("/api/v1/tts", json={"text": "Hi.", "voice": "nobody-here"})
    assert_error(response, 404, "voice")
    assert "POST /api/v1/voice" in response.json()["error"]["message"]


def test_tts_without_voice_on_a_model_without_builtin_voice(service: RunningService, unchanged: None) -> None:
    response = service.client.post("/api/v1/tts", json={"text": "Hi."})
    assert_error(response, 400, "voice")
    assert "no built-in voice" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("filename", "reason"),
    [("not_audio.wav", "not a readable audio file"), ("truncated.wav", "truncated"), ("too_short.wav", "at least 1 s")],
)
def test_voice_upload_rejects_unusable_audio(service: RunningService, unchanged: None, filename: str, reason: str) -> None:
    response = service.client.post("/api/v1/voice", files={"file": (filename, read_testdata(filename))}, data={"name": "bad-voice"})
    assert_error(response, 400, "file")
    assert reason in response.json()["error"]["message"]


def test_voice_upload_rejects_silence(service: RunningService, unchanged: None) -> None:
    import io

    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(24_000 * 2, dtype=np.float32), 24_000, format="WAV")
    response = service.client.post("/api/v1/voice", files={"file": ("silence.wav", buffer.getvalue())}, data={"name": "quiet"})
    assert_error(response, 400, "file")


def test_voice_upload_rejects_oversize_file(service: RunningService, unchanged: None) -> None:
    payload = read_testdata("voice_alex.wav") * (MAX_UPLOAD_BYTES // len(read_testdata("voice_alex.wav")) + 1)
    response = service.client.post("/api/v1/voice", files={"file": ("big.wav", payload)}, data={"name": "big"})
    assert_error(response, 413, "file")


@pytest.mark.parametrize("name", ["../escape", "..", "a/b", "/abs", "-dash-first", "x" * 65, "new\nline", "é"])
def test_voice_upload_rejects_unsafe_names(service: RunningService, unchanged: None, name: str) -> None:
    response = service.client.post("/api/v1/voice", files={"file": ("v.wav", read_testdata("voice_alex.wav"))}, data={"name": name})
    assert_error(response, 422, "name")


def test_voice_upload_requires_file_and_name(service: RunningService, unchanged: None) -> None:
    assert_error(service.client.post("/api/v1/voice", data={"name": "nofile"}), 422, "file")
    assert_error(service.client.post("/api/v1/voice", files={"file": ("v.wav", read_testdata("voice_alex.wav"))}), 422, "name")


def test_vc_rejects_bad_sources_and_targets(service: RunningService, unchanged: None, voices: dict[str, str]) -> None:
    source = {"input_audio": ("s.wav", read_testdata("source_speech_16k.wav"))}
    post = service.client.post
    assert_error(post("/api/v1/vc", data={"target_voice": voices["alex"]}), 422, "input_audio")
    assert_error(post("/api/v1/vc", files=source, data={"input_filename": "tts_x.wav", "target_voice": voices["alex"]}), 422, "input_audio")
    assert_error(post("/api/v1/vc", files={"input_audio": ("n.wav", read_testdata("not_audio.wav"))}, data={"target_voice": voices["alex"]}), 400, "input_audio")
    assert_error(post("/api/v1/vc", files={"input_audio": ("t.wav", read_testdata("truncated.wav"))}, data={"target_voice": voices["alex"]}), 400, "input_audio")
    assert_error(post("/api/v1/vc", files=source, data={"target_voice": "nobody-here"}), 404, "target_voice")
    assert_error(post("/api/v1/vc", files={**source, "target_audio": ("v.wav", read_testdata("voice_bella.wav"))}, data={"target_voice": voices["alex"]}), 422, "target_voice")
    assert_error(post("/api/v1/vc", files={**source, "target_audio": ("x.wav", read_testdata("not_audio.wav"))}), 400, "target_audio")
    assert_error(post("/api/v1/vc", data={"input_filename": "../voices/x.wav", "target_voice": voices["alex"]}), 422, "input_filename")
    assert_error(post("/api/v1/vc", data={"input_filename": "tts_20250101-000000-000-abcdef012345.wav", "target_voice": voices["alex"]}), 404, "input_filename")
    assert_error(post("/api/v1/vc", files=source, data={"target_voice": voices["alex"], "output_format": "wma"}), 422, "output_format")


@pytest.mark.parametrize("filename", ["%2E%2E", "voice.json", "tts_20250101-000000-000-abcdef012345.wav", "..%5Cvoices%5Cfixture-alex.wav", "tts_x.wav%00"])
def test_download_refuses_names_that_are_not_stored_outputs(service: RunningService, unchanged: None, filename: str) -> None:
    """These reach the download handler (no slash in the name), which refuses them itself."""
    response = service.client.get(f"/api/v1/outputs/{filename}")
    assert_error(response, 404, "filename")
    assert f"no output named {unquote(filename)!r}" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["..%2Fvoices%2Ffixture-alex%2Fvoice.json", "%2Fetc%2Fpasswd", "a%2F..%2F..%2Fvoices"])
def test_download_paths_with_encoded_slashes_match_no_route(service: RunningService, unchanged: None, path: str) -> None:
    """An encoded slash makes the name two path segments: no download route matches, so
    nothing reads storage; the catch-all answers in the API's error shape."""
    response = service.client.get(f"/api/v1/outputs/{path}")
    assert_error(response, 404, None)
    assert response.json()["error"]["message"].startswith("no route GET /api/v1/outputs/")
