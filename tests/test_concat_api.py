"""POST /api/v1/concat and its jobs through `bentoml serve`, on both storage backends:
mixed sources, formats, rates and channels; every option; bad input; and the temp folder
cleaned up on success, failure and cancellation."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from audio.decoding import decode
from harness.processes import wait_until
from harness.stacks import CONCAT_SYNC_MAX_SECONDS, RunningService
from harness.testdata import read_testdata
from outputs.store import OutputMetadata, new_output_name
from tests.conftest import assert_error

RATE = 22_050


def seconds_at(data: bytes, rate: int = RATE) -> float:
    return decode(data, rate).duration_seconds


def stored_output(service: RunningService, text: str, fmt: str = "wav") -> tuple[str, bytes]:
    response = service.client.post("/api/v1/tts", json={"text": text, "voice": "fixture-alex", "seed": 3, "output_format": fmt, "response_mode": "stream"})
    assert response.status_code == 200, response.text
    return response.headers["x-output-filename"], response.content


def multipart(request: dict, files: list[tuple[str, bytes]]) -> dict:
    return {"data": {"request": json.dumps(request)}, "files": [("files", (name, data)) for name, data in files]}


def flac_16k(data: bytes) -> bytes:
    audio = decode(data, 16_000)
    buffer = io.BytesIO()
    sf.write(buffer, audio.samples[: 16_000 * 3], 16_000, format="FLAC")
    return buffer.getvalue()


def wait_for_job(service: RunningService, url: str, until: tuple[str, ...] = ("succeeded", "failed", "cancelled")) -> dict:
    return wait_until(lambda: (job := service.client.get(url).json())["status"] in until and job, 300, f"job {url} {'/'.join(until)}")


def test_mixed_sources_formats_rates_and_channels(service: RunningService, voices: dict[str, str]) -> None:
    tts_name, tts_wav = stored_output(service, "The first part of the story.")
    mp3_name, mp3_data = stored_output(service, "A second part, stored as mp3.", "mp3")
    stereo = read_testdata("voice_bella_stereo_44k.wav")
    flac = flac_16k(read_testdata("voice_alex.wav"))
    request = {
        "inputs": [{"output": tts_name}, {"upload": "stereo.wav"}, {"silence_ms": 700}, {"voice": voices["alex"]}, {"upload": 1}, {"output": mp3_name}],
        "crossfade_ms": 150, "pause_ms": 250, "normalize": "loudness", "target_lufs": -20.0, "sample_rate": RATE, "output_format": "flac",
    }
    temp_before = service.temp_files()
    response = service.client.post("/api/v1/concat", **multipart(request, [("stereo.wav", stereo), ("short.flac", flac)]))
    assert response.status_code == 200, response.text
    metadata = response.json()["metadata"]
    assert metadata["type"] == "concat" and metadata["format"] == "flac" and metadata["sample_rate"] == RATE
    result = service.client.get(response.json()["url"]).content
    info = sf.info(io.BytesIO(result))
    assert (info.samplerate, info.channels) == (RATE, 1)

    voice_audio = service.client.get(f"/api/v1/voice/{voices['alex']}/audio").content
    lengths = [seconds_at(tts_wav), seconds_at(stereo), 0.7, seconds_at(voice_audio), seconds_at(flac), seconds_at(mp3_data)]
    seams = len(lengths) - 1
    expected = sum(lengths) - seams * 0.150 + seams * 0.250
    assert info.duration == pytest.approx(expected, abs=0.010)
    assert metadata["duration_seconds"] == pytest.approx(info.duration, abs=0.001)
    samples, _ = sf.read(io.BytesIO(result))
    assert pyloudnorm.Meter(RATE).integrated_loudness(samples) == pytest.approx(-20.0, abs=1.0)

    parameters = metadata["parameters"]
    assert [entry["source"] for entry in parameters["inputs"]][:3] == [f"output {tts_name}", "upload stereo.wav", "silence 700 ms"]
    assert parameters["pauses_ms"] == [250] * seams and parameters["crossfade_ms"] == 150
    listed = service.client.get("/api/v1/outputs", params={"type": "concat", "names": metadata["filename"]}).json()
    assert listed["items"][0]["filename"] == metadata["filename"]
    assert service.temp_files() - temp_before == set()


def test_order_trim_jitter_and_stream_mode(service: RunningService) -> None:
    speech = read_testdata("voice_alex.wav")
    padded = np.concatenate([np.zeros(24_000), decode(speech, 24_000).samples[: 24_000 * 2], np.zeros(12_000)]).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, padded, 24_000, format="WAV")
    request = {
        "inputs": [{"silence_ms": 400}, {"upload": 0}, {"silence_ms": 900}], "order": [2, 1, 0],
        "trim_silence": True, "pause_ms": 300, "pause_jitter_ms": 200, "seed": 7, "response_mode": "stream", "output_format": "mp3",
    }
    response = service.client.post("/api/v1/concat", **multipart(request, [("padded.wav", buffer.getvalue())]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    name = response.headers["x-output-filename"]
    metadata = service.client.get("/api/v1/outputs", params={"names": name}).json()["items"][0]
    parameters = metadata["parameters"]
    assert parameters["order"] == [2, 1, 0] and [entry["source"] for entry in parameters["inputs"]] == ["silence 900 ms", "upload 0", "silence 400 ms"]
    assert len(parameters["pauses_ms"]) == 2 and all(100 <= pause <= 500 for pause in parameters["pauses_ms"]) and parameters["seed"] == 7
    assert parameters["trimmed_seconds"][1] > 1.0  # the second of leading silence is gone
    assert metadata["duration_seconds"] == pytest.approx(0.9 + (3.5 - parameters["trimmed_seconds"][1]) + 0.4 + sum(parameters["pauses_ms"]) / 1000, abs=0.01)


def test_json_body_and_uploads_only_form(service: RunningService, voices: dict[str, str]) -> None:
    name, _ = stored_output(service, "Joined from JSON.")
    response = service.client.post("/api/v1/concat", json={"inputs": [{"output": name}, {"silence_ms": 200}, {"output": name}], "noise_reduction": True})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["parameters"]["noise_reduction"] is True
    files = [("files", ("a.wav", read_testdata("voice_alex.wav"))), ("files", ("b.ogg", read_testdata("voice_alex.ogg")))]
    plain = service.client.post("/api/v1/concat", files=files)
    assert plain.status_code == 200, plain.text
    assert [entry["source"] for entry in plain.json()["metadata"]["parameters"]["inputs"]] == ["upload 0", "upload 1"]


@pytest.mark.parametrize(
    "request_body,files,status,field",
    [
        ({"inputs": [{"output": "tts_20200101-000000-000-000000000000.wav"}]}, [], 404, "inputs[0].output"),
        ({"inputs": [{"voice": "nobody-at-all"}]}, [], 404, "inputs[0].voice"),
        ({"inputs": [{"silence_ms": 500}, {"silence_ms": 500}], "order": [0, 0]}, [], 422, None),
        ({"inputs": [{"silence_ms": 500}, {"silence_ms": 500}], "order": [1]}, [], 422, None),
        ({"inputs": [{"silence_ms": 500}, {"upload": 0}], "crossfade_ms": 800}, [("a.wav", "voice_alex.wav")], 422, "crossfade_ms"),
        ({"inputs": [{"upload": 0}]}, [("bad.wav", "not_audio.wav")], 400, "files"),
        ({"inputs": [{"upload": 0}]}, [("cut.wav", "truncated.wav")], 400, "files"),
        ({"inputs": [{"upload": "missing.wav"}]}, [("a.wav", "voice_alex.wav")], 422, "inputs[0].upload"),
        ({"inputs": [{"silence_ms": 500}]}, [("a.wav", "voice_alex.wav")], 422, "files"),
        ({"inputs": [{"silence_ms": 500}], "crossfade_ms": 6000}, [], 422, "crossfade_ms"),
        ({"inputs": [{"silence_ms": 500}], "pause_ms": 100, "pause_jitter_ms": 200}, [], 422, None),
        ({"inputs": [{"silence_ms": 500}], "loudness": "loud"}, [], 422, "loudness"),
        ({"inputs": [{"silence_ms": 500}], "sample_rate": 12345}, [], 422, "sample_rate"),
        ({"inputs": []}, [], 422, "inputs"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(service: RunningService, unchanged: None, request_body: dict, files: list, status: int, field: str | None) -> None:
    uploads = [(name, read_testdata(source)) for name, source in files]
    response = service.client.post("/api/v1/concat", **multipart(request_body, uploads))
    assert_error(response, status, field)


def test_not_json_is_refused(service: RunningService, unchanged: None) -> None:
    assert_error(service.client.post("/api/v1/concat", content=b"{not json", headers={"content-type": "application/json"}), 400, None)
    assert_error(service.client.post("/api/v1/concat", content=b"inputs", headers={"content-type": "text/plain"}), 415, None)


def test_a_client_that_disconnects_does_not_stop_the_work(service: RunningService) -> None:
    """The client hangs up once the work has begun (its uploads are in the request's temp
    folder); the output is stored all the same, and the temp folder removed."""
    started = datetime.now(timezone.utc).isoformat()
    temp_before = service.temp_files()
    body = {"inputs": [{"upload": 0}] * 6, "noise_reduction": True, "normalize": "loudness"}
    with service.hung_up_request("POST", "/api/v1/concat", **multipart(body, [("a.wav", read_testdata("voice_alex.wav"))])):
        wait_until(lambda: service.temp_files() - temp_before, 60, "the concatenation began")

    def made() -> list[dict]:
        return service.client.get("/api/v1/outputs", params={"type": "concat", "created_after": started}).json()["items"]

    [output] = wait_until(made, 120, "the concatenation stored")
    assert len(output["parameters"]["inputs"]) == 6
    wait_until(lambda: not service.temp_files() - temp_before, 30, "the temp folder removed")


def test_long_job_returns_202_and_reports_progress(service: RunningService) -> None:
    temp_before = service.temp_files()
    body = {"inputs": [{"silence_ms": 20_000}, {"upload": 0}, {"silence_ms": 15_000}], "sample_rate": 8000}
    response = service.client.post("/api/v1/concat", **multipart(body, [("a.wav", read_testdata("voice_alex.wav"))]))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("queued", "running", "succeeded") and job["progress"]["segments_total"] == 3
    assert response.headers["location"] == job["url"]
    assert job["progress"]["input_seconds"] > CONCAT_SYNC_MAX_SECONDS
    done = wait_for_job(service, job["url"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["segments_done"] == 3 and done["progress"]["percent"] == 100.0
    result = done["result"]
    assert result["metadata"]["type"] == "concat" and result["metadata"]["duration_seconds"] > 35
    assert service.client.get(result["url"]).status_code == 200
    assert service.temp_files() - temp_before == set()
    assert_error(service.client.get("/api/v1/jobs/0123456789abcdef0123456789abcdef"), 404, "job_id")
    assert_error(service.client.get("/api/v1/jobs/not-a-job"), 404, "job_id")


def test_failed_job_cleans_up_and_stores_nothing(service: RunningService) -> None:
    """A stored output that turns out unreadable fails the job (after the 202), which says
    which input; its temp folder is gone and no output was stored."""
    created = datetime.now(timezone.utc)
    filename = new_output_name("tts", "wav", {"corrupt": 1}, now=created)
    metadata = OutputMetadata(
        filename=filename, type="tts", created_at=created, format="wav", content_type="audio/wav", sample_rate=24000,
        duration_seconds=2.0, size_bytes=20, generation_seconds=0.0, model_source="random", voice=None, parameters={},
    )
    service.plant_output(b"RIFF this is not audio", metadata)
    keys_before, temp_before = service.stored_keys(), service.temp_files()
    response = service.client.post("/api/v1/concat", json={"inputs": [{"silence_ms": 40_000}, {"output": filename}], "sample_rate": 8000})
    assert response.status_code == 202, response.text
    job = wait_for_job(service, response.json()["url"])
    assert job["status"] == "failed" and job["error"]["field"] == "inputs[1]" and job["result"] is None
    assert {key for key in service.stored_keys() - keys_before if not key.startswith("jobs/")} == set()
    assert service.temp_files() - temp_before == set()


def test_an_input_deleted_while_joining_is_a_clear_4xx(service: RunningService) -> None:
    """An output whose audio is deleted after the request was checked (another client's
    DELETE racing this one) fails this request with a 400 naming the input, not a 500."""
    created = datetime.now(timezone.utc)
    filename = new_output_name("tts", "wav", {"deleted": 1}, now=created)
    metadata = OutputMetadata(
        filename=filename, type="tts", created_at=created, format="wav", content_type="audio/wav", sample_rate=24000,
        duration_seconds=0.5, size_bytes=20, generation_seconds=0.0, model_source="random", voice=None, parameters={},
    )
    service.plant_output(b"RIFF", metadata)
    service.storage.delete(f"outputs/{filename}")  # its audio is already gone
    try:
        response = service.client.post("/api/v1/concat", json={"inputs": [{"silence_ms": 200}, {"output": filename}]})
        assert_error(response, 400, "inputs[1]")
        assert "deleted while the concatenation ran" in response.json()["error"]["message"]
    finally:
        assert service.client.delete(f"/api/v1/outputs/{filename}").status_code == 200


def test_cancelled_job_cleans_up_and_stores_nothing(service: RunningService) -> None:
    keys_before, temp_before = service.stored_keys(), service.temp_files()
    body = {"inputs": [{"upload": 0}] * 400, "noise_reduction": True, "normalize": "loudness", "sample_rate": 8000}
    response = service.client.post("/api/v1/concat", **multipart(body, [("a.wav", read_testdata("voice_alex.wav"))]))
    assert response.status_code == 202, response.text
    url = response.json()["url"]
    running = wait_for_job(service, url, until=("running",))
    assert running["progress"]["segments_done"] < 400
    cancelled = service.client.delete(url)
    assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True
    job = wait_for_job(service, url)
    assert job["status"] == "cancelled" and job["result"] is None
    assert {key for key in service.stored_keys() - keys_before if not key.startswith("jobs/")} == set()
    wait_until(lambda: not service.temp_files() - temp_before, 30, "the cancelled job's temp folder removed")
    assert service.client.delete(url).json()["status"] == "cancelled"  # cancelling again changes nothing
