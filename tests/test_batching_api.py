"""Adaptive batching through the running service: a long text's chunks are runner jobs of
their own, so short requests that come after it are not held behind all of it; concurrent
requests share T3 decoding loops (and do not when `runner.batching` is off); the cache hit
rate, memory and the time per stage are reported on /health and /metrics."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningService, read_testdata, start_service
from tests.processes import stop

LONG_TEXT = " ".join(f"Sentence number {word} is here to make this text long enough." for word in ("one", "two", "three", "four"))
REFERENCE_SECONDS = 2.0  # a short voice prompt keeps S3Gen quick on the CPU
SHORT_TEXTS = ["A short one.", "Another short one."]


def serving(folder: Path, env: dict[str, str]) -> Iterator[RunningService]:
    process, running = start_service("local", folder, None, env)
    yield running
    running.client.close()
    stop(process)


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    yield from serving(tmp_path_factory.mktemp("batched"), {"CHATTERBOX_TTS__CHUNKS_IN_FLIGHT": "2"})


@pytest.fixture(scope="module")
def unbatched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    yield from serving(tmp_path_factory.mktemp("unbatched"), {"CHATTERBOX_RUNNER__BATCHING": "false"})


def upload_voice(service: RunningService, name: str) -> str:
    samples, rate = sf.read(io.BytesIO(read_testdata("voice_alex.wav")), dtype="float32")
    clip = io.BytesIO()
    sf.write(clip, samples[: int(REFERENCE_SECONDS * rate)], rate, format="WAV")
    response = service.client.post("/api/v1/voice", files={"file": ("v.wav", clip.getvalue())}, data={"name": name, "overwrite": "true"})
    assert response.status_code in (200, 201), response.text
    return name


def samples_by_name(service: RunningService) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every /metrics sample: name -> labels -> value (summed over processes by BentoML)."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(service.client.get("/metrics").text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def decode_loops(service: RunningService) -> tuple[float, float]:
    """T3 decoding loops so far, and how many of them decoded a single chunk."""
    samples = samples_by_name(service)
    return samples["chatterbox_t3_decode_batch_chunks_count"][()], samples["chatterbox_t3_decode_batch_chunks_bucket"][(("le", "1.0"),)]


async def speak_concurrently(base_url: str, bodies: list[dict], stagger: float) -> tuple[list[httpx.Response], list[int]]:
    """POSTs the bodies `stagger` seconds apart; returns the responses and the order they finished in."""
    finished: list[int] = []

    async def speak(client: httpx.AsyncClient, index: int, body: dict) -> httpx.Response:
        await asyncio.sleep(index * stagger)
        response = await client.post("/api/v1/tts", json=body)
        finished.append(index)
        return response

    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        responses = await asyncio.gather(*(speak(client, index, body) for index, body in enumerate(bodies)))
    return list(responses), finished


def test_long_text_chunks_share_batches_with_short_requests(batched: RunningService) -> None:
    voice = upload_voice(batched, "batch-voice")
    jobs_before = batched.client.get("/api/v1/health").json()["tts"]["jobs_done"]
    bodies = [{"text": LONG_TEXT, "voice": voice, "seed": 5}] + [{"text": text, "voice": voice, "seed": 6} for text in SHORT_TEXTS]
    responses, finished = asyncio.run(speak_concurrently(batched.base_url, bodies, stagger=0.5))
    assert all(response.status_code == 200 for response in responses), [response.text for response in responses]
    long_metadata = responses[0].json()["metadata"]
    assert long_metadata["parameters"]["chunks"] == 4
    assert finished[-1] == 0  # the short requests did not wait for the whole long text
    health = batched.client.get("/api/v1/health").json()["tts"]
    assert health["jobs_done"] - jobs_before == 4 + len(SHORT_TEXTS)  # each chunk was a runner job of its own
    loops, single_chunk_loops = decode_loops(batched)
    assert loops > single_chunk_loops  # some loop decoded chunks of several jobs together

    again = batched.client.post("/api/v1/tts", json={"text": LONG_TEXT, "voice": voice, "seed": 5})
    assert again.status_code == 200
    first_audio = batched.client.get(f"/api/v1/outputs/{long_metadata['filename']}").content
    assert batched.client.get(f"/api/v1/outputs/{again.json()['filename']}").content == first_audio  # same seed, same audio, whatever shared its batches


def test_health_and_metrics_report_cache_hit_rate_memory_and_stage_times(batched: RunningService) -> None:
    voice = upload_voice(batched, "metrics-voice")
    for seed in (1, 2):
        assert batched.client.post("/api/v1/tts", json={"text": "Counting cache hits.", "voice": voice, "seed": seed}).status_code == 200
    tts = batched.client.get("/api/v1/health").json()["tts"]
    assert tts["conditioning_cache_hits"] >= 1 and tts["conditioning_cache_misses"] >= 1
    assert tts["conditioning_cache_hit_rate"] == round(tts["conditioning_cache_hits"] / (tts["conditioning_cache_hits"] + tts["conditioning_cache_misses"]), 4)
    assert tts["memory_rss_bytes"] > 100 * 2**20 and tts["gpu_memory_peak_bytes"] is None  # the CPU runner holds its model
    samples = samples_by_name(batched)
    lookups = samples["chatterbox_conditioning_cache_lookups_total"]
    assert lookups[(("model", "tts"), ("result", "hit"))] == tts["conditioning_cache_hits"]
    assert lookups[(("model", "tts"), ("result", "miss"))] == tts["conditioning_cache_misses"]
    stages = samples["chatterbox_stage_seconds_total"]
    for model, stage in (("tts", "conditioning"), ("tts", "t3"), ("tts", "s3gen"), ("tts", "watermark"), ("api", "encode")):
        assert stages[(("model", model), ("stage", stage))] > 0, (model, stage)


def test_without_batching_each_request_decodes_alone(unbatched: RunningService) -> None:
    voice = upload_voice(unbatched, "alone-voice")
    bodies = [{"text": text, "voice": voice, "seed": 3} for text in (*SHORT_TEXTS, "A third one.")]
    responses, _ = asyncio.run(speak_concurrently(unbatched.base_url, bodies, stagger=0.0))
    assert all(response.status_code == 200 for response in responses), [response.text for response in responses]
    loops, single_chunk_loops = decode_loops(unbatched)
    assert loops == single_chunk_loops >= len(bodies)


def test_generation_in_flight_survives_many_other_runner_calls(batched: RunningService) -> None:
    """BentoML's client replaces its session to a runner after 100 calls (by default) and
    closed the old one with every call still in flight: a generation running while the
    service made 100 other runner calls (each health check asks both runners) failed with 503."""
    voice = upload_voice(batched, "survivor-voice")
    outcome: dict[str, httpx.Response] = {}

    def speak() -> None:
        outcome["response"] = batched.client.post("/api/v1/tts", json={"text": LONG_TEXT, "voice": voice, "seed": 8})

    speaker = threading.Thread(target=speak)
    speaker.start()
    checks_while_speaking = 0
    with httpx.Client(base_url=batched.base_url, timeout=60) as prober:
        while speaker.is_alive():
            assert prober.get("/api/v1/health").status_code == 200
            checks_while_speaking += 1
    speaker.join()
    assert outcome["response"].status_code == 200, outcome["response"].text
    assert checks_while_speaking > 100  # past BentoML's default session limit while the generation ran
