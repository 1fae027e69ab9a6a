"""POST /api/v1/tts through `bentoml serve`, with real random-weight Chatterbox models."""

from __future__ import annotations

import io
import json
import re
import threading

import numpy as np
import pytest
import soundfile as sf

from audio.decoding import decode
from config.settings import load_settings
from harness.stacks import MAX_CHUNK_CHARS, RunningService
from harness.testdata import read_testdata
from outputs.store import OUTPUT_NAME, companion_key
from tests.audio_checks import plausible_seconds, same_audio, samples_of, wav_info
from text.chunks import split_into_chunks

TWO_SENTENCES = "The quick brown fox jumps over the lazy dog. Then it runs far away into the woods."


def test_health_reports_what_is_really_loaded(service: RunningService) -> None:
    body = service.client.get("/api/v1/health").json()
    assert body["ready"] is True and body["status"] == "ok"
    assert re.match(r"^\d+\.\d+\.\d+$", body["version"])
    for model in ("tts", "vc"):
        assert body[model]["source"] == "random"
        assert body[model]["device"] == "cpu"
    assert body["storage"] == {"backend": service.backend, "ready": True, "error": None}
    limit = int(service.env.get("CHATTERBOX_LIMITS__MAX_PENDING_GENERATIONS", load_settings().limits.max_pending_generations))
    assert body["generations"] == {"in_flight": 0, "limit": limit}


def test_tts_url_mode_stores_audio_and_metadata(service: RunningService, voices: dict[str, str]) -> None:
    assert len(TWO_SENTENCES) > MAX_CHUNK_CHARS  # so the text is really split
    response = service.client.post("/api/v1/tts", json={"text": TWO_SENTENCES, "voice": voices["alex"], "seed": 11, "exaggeration": 0.7})
    assert response.status_code == 200, response.text
    body = response.json()
    filename = body["filename"]
    assert OUTPUT_NAME.match(filename) and filename.startswith("tts_") and "voice-fixture-alex_exag-0.7_cfg-0.5" in filename
    assert body["url"].endswith(f"/api/v1/outputs/{filename}")

    download = service.client.get(body["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "audio/wav"
    info = wav_info(download.content)
    assert info.samplerate == 24_000 and info.channels == 1
    metadata = body["metadata"]
    chunks = split_into_chunks(TWO_SENTENCES, MAX_CHUNK_CHARS)
    assert metadata["parameters"]["chunks"] == len(chunks) == 2
    shortest, longest = plausible_seconds(chunks)
    assert shortest <= info.duration <= longest  # as long as saying it takes, not a token cap
    assert metadata["duration_seconds"] == pytest.approx(info.duration, abs=0.01)
    assert metadata["size_bytes"] == len(download.content)
    assert metadata["model_source"] == "random" and metadata["voice"] == voices["alex"]
    assert metadata["parameters"]["seed"] == 11 and metadata["parameters"]["text"] == TWO_SENTENCES
    assert metadata["generation_seconds"] > 0

    stored = json.loads(service.storage.get(companion_key(filename)))
    assert stored == metadata


def test_tts_stream_mode_returns_the_file_itself(service: RunningService, voices: dict[str, str]) -> None:
    response = service.client.post(
        "/api/v1/tts", json={"text": "Short one.", "voice": voices["bella"], "output_format": "mp3", "response_mode": "stream", "seed": 5}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    filename = re.match(r'attachment; filename="(.+)"', response.headers["content-disposition"]).group(1)
    assert filename.endswith(".mp3") and OUTPUT_NAME.match(filename)
    shortest, longest = plausible_seconds(["Short one."])
    assert shortest <= len(samples_of(response.content)) / 24_000 <= longest
    assert service.storage.get("outputs/" + filename) == response.content


def test_seeded_generation_is_reproducible_and_voice_is_per_request(service: RunningService, voices: dict[str, str]) -> None:
    """Two concurrent requests with different voices and the same seed each get their own
    voice: each matches what the same request produces alone, and they differ. On the
    `local` stack their renders may share an S3Gen pass (`same_audio`)."""
    request = {"text": "Hello there, friend.", "seed": 1234, "response_mode": "stream"}
    concurrent: dict[str, bytes] = {}

    def generate(voice: str) -> None:
        response = service.client.post("/api/v1/tts", json={**request, "voice": voices[voice]})
        assert response.status_code == 200, response.text
        concurrent[voice] = response.content

    threads = [threading.Thread(target=generate, args=(voice,)) for voice in ("alex", "bella")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    alone = {}
    for voice in ("alex", "bella"):
        alone[voice] = service.client.post("/api/v1/tts", json={**request, "voice": voices[voice]}).content
    for voice in ("alex", "bella"):
        assert same_audio(concurrent[voice], alone[voice]), f"{voice} changed when run beside another voice"
    a, b = samples_of(alone["alex"]), samples_of(alone["bella"])
    assert len(a) != len(b) or not np.allclose(a, b, atol=1e-3), "two voices produced the same audio"


def test_library_voices_travel_by_reference(service: RunningService) -> None:
    """The runners read a library voice's reference from storage themselves (the API sends
    only its hash and key), condition on it once whatever the exaggeration, and the API
    never has to send the audio."""
    name = f"by-reference-{service.backend}"
    samples, rate = sf.read(io.BytesIO(read_testdata("voice_bella.wav")), dtype="float32")
    clip = io.BytesIO()
    sf.write(clip, samples[: int((2.3 if service.backend == "local" else 2.4) * rate)], rate, format="WAV")  # audio no other test uses
    uploaded = service.client.post("/api/v1/voice", files={"file": ("clip.wav", clip.getvalue())}, data={"name": name})
    assert uploaded.status_code == 201, uploaded.text
    try:
        before = service.health()
        for exaggeration in (0.3, 0.9, 1.4):
            response = service.client.post("/api/v1/tts", json={"text": "Short one.", "voice": name, "exaggeration": exaggeration, "seed": 3})
            assert response.status_code == 200, response.text
        converted = service.client.post("/api/v1/vc", files={"input_audio": ("src.wav", read_testdata("source_speech_16k.wav"))}, data={"target_voice": name})
        assert converted.status_code == 200, converted.text
        after = service.health()
    finally:
        service.client.delete(f"/api/v1/voice/{name}", params={"confirm": "true"})
    for model in ("tts", "vc"):
        assert after[model]["references_from_storage"] - before[model]["references_from_storage"] == 1, model
        assert after[model]["references_sent"] == before[model]["references_sent"], model
        assert after[model]["conditioning_cache_misses"] - before[model]["conditioning_cache_misses"] == 1, model


def test_a_voice_deleted_mid_stream_is_spoken_to_the_end(service: RunningService) -> None:
    """Deleting (or replacing) a voice evicts its conditionals from the runners, but only once
    the requests speaking in it have ended: a stream that began in it finishes in it."""
    name = f"mid-stream-{service.backend}"
    samples, rate = sf.read(io.BytesIO(read_testdata("voice_alex.wav")), dtype="float32")
    clip = io.BytesIO()
    sf.write(clip, samples[: int((2.1 if service.backend == "local" else 2.2) * rate)], rate, format="WAV")
    assert service.client.post("/api/v1/voice", files={"file": ("clip.wav", clip.getvalue())}, data={"name": name}).status_code == 201
    text = "One. " + " ".join(f"Sentence number {n} keeps this stream going a while." for n in range(2, 5))
    body = {"text": text, "voice": name, "response_mode": "stream", "stream_chunks": True, "seed": 8}
    with service.client.stream("POST", "/api/v1/tts", json=body) as response:
        assert response.status_code == 200
        pieces = response.iter_bytes()
        received = [next(pieces)]
        deleted = service.client.delete(f"/api/v1/voice/{name}", params={"confirm": "true"})
        assert deleted.status_code == 200, deleted.text
        received += list(pieces)
    chunks = service.stored_output(response.headers["x-output-filename"])["parameters"]["chunks"]
    assert chunks >= 4 and decode(b"".join(received)).duration_seconds > 1.0
