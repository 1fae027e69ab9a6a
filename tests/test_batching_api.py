"""Batching through the running service: a long text's chunks are runner jobs of their own,
so short requests sent while it runs finish before it; a request that arrives while T3
decodes joins the running loop and leaves it as soon as it stops (and none ever shares a step
with `runner.batching` off, the s3 stack); the cache hit rate, memory and the time per stage
are reported on /health and /metrics. Ordering and batching are proven from recorded events
(completion order, the step histogram, the joins counter), never from how long anything took."""

from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import soundfile as sf

from harness.metrics import metric_samples
from harness.processes import wait_until
from harness.stacks import CHUNKS_IN_FLIGHT, KV_CACHE, MAX_CHUNK_CHARS, RunningService
from harness.testdata import read_testdata
from tests.audio_checks import same_audio
from text.chunks import split_into_chunks

LONG_TEXT = " ".join(f"Sentence number {n} is here to make this text long enough." for n in range(1, 9))
ONE_CHUNK = "A single chunk that keeps the decoder busy for a while."
SHORT_TEXTS = ["A short one.", "Another short one."]
LONG_SEED, SHORT_SEED = 4, 4  # random weights speak ONE_CHUNK in 115 speech tokens, SHORT_TEXT in 12
SHORT_TEXT = "Hi there."
REFERENCE_SECONDS = 2.0  # a short voice prompt keeps S3Gen quick on the CPU
PROBES = 120  # runner calls made while one generation is in flight (BentoML used to recycle its session after 100)


def upload_voice(service: RunningService, name: str) -> str:
    samples, rate = sf.read(io.BytesIO(read_testdata("voice_alex.wav")), dtype="float32")
    clip = io.BytesIO()
    sf.write(clip, samples[: int(REFERENCE_SECONDS * rate)], rate, format="WAV")
    response = service.client.post("/api/v1/voice", files={"file": ("v.wav", clip.getvalue())}, data={"name": name})
    assert response.status_code == 201, response.text
    return name


def decode_steps(service: RunningService) -> tuple[float, float, float]:
    """T3 steps taken so far, how many of them decoded a single chunk, and how many requests
    joined a loop that was already decoding others (no samples before the first step)."""
    samples = metric_samples(service.client)
    steps = samples.get("chatterbox_t3_decode_batch_chunks_count", {}).get((), 0.0)
    single = samples.get("chatterbox_t3_decode_batch_chunks_bucket", {}).get((("le", "1.0"),), 0.0)
    return steps, single, samples.get("chatterbox_t3_loop_joins_total", {}).get((), 0.0)


def jobs_done(service: RunningService) -> int:
    return service.health()["tts"]["jobs_done"]


async def speak_together(service: RunningService, bodies: list[dict], finished: list[str]) -> list[httpx.Response]:
    """POSTs every body at once; appends each text to `finished` as its answer arrives."""

    async def speak(client: httpx.AsyncClient, body: dict) -> httpx.Response:
        response = await client.post("/api/v1/tts", json=body)
        finished.append(body["text"])
        return response

    async with service.async_client() as client:
        return list(await asyncio.gather(*(speak(client, body) for body in bodies)))


def test_short_requests_and_other_runner_calls_while_a_long_text_generates(local_stack: RunningService) -> None:
    """While a long text generates (its chunks are runner jobs, CHUNKS_IN_FLIGHT at a time),
    short requests sent after it started finish before it, and more than a hundred other
    runner calls (health checks) are made without failing it. Each chunk is a job of its
    own; the same seed gives the same audio, whatever shared its batches."""
    voice = upload_voice(local_stack, "batch-voice")
    chunks = split_into_chunks(LONG_TEXT, MAX_CHUNK_CHARS)
    assert len(chunks) >= 4 * CHUNKS_IN_FLIGHT
    jobs_before = jobs_done(local_stack)
    finished: list[str] = []
    long_answer: dict[str, httpx.Response] = {}

    def speak_long() -> None:
        with local_stack.new_client() as client:
            long_answer["response"] = client.post("/api/v1/tts", json={"text": LONG_TEXT, "voice": voice, "seed": 5})
        finished.append(LONG_TEXT)

    speaker = threading.Thread(target=speak_long)
    speaker.start()
    wait_until(lambda: jobs_done(local_stack) > jobs_before, 300, "the long text's first chunk generated")
    with local_stack.new_client() as prober, ThreadPoolExecutor(8) as pool:
        probes = list(pool.map(lambda _: prober.get("/api/v1/health").status_code, range(PROBES)))
    long_text_alive_after_probes = speaker.is_alive()
    shorts = asyncio.run(speak_together(local_stack, [{"text": text, "voice": voice, "seed": 6} for text in SHORT_TEXTS], finished))
    speaker.join(600)

    assert probes == [200] * PROBES and long_text_alive_after_probes
    assert all(response.status_code == 200 for response in shorts), [response.text for response in shorts]
    response = long_answer["response"]
    assert response.status_code == 200, response.text
    assert finished[-1] == LONG_TEXT  # the short requests did not wait for the whole long text
    assert response.json()["metadata"]["parameters"]["chunks"] == len(chunks)
    assert jobs_done(local_stack) - jobs_before == len(chunks) + len(SHORT_TEXTS)  # each chunk was a runner job of its own

    again = local_stack.client.post("/api/v1/tts", json={"text": SHORT_TEXTS[0], "voice": voice, "seed": 6})
    assert again.status_code == 200
    first = next(answer for answer in shorts if answer.json()["metadata"]["parameters"]["text"] == SHORT_TEXTS[0])
    assert same_audio(local_stack.client.get(first.json()["url"]).content, local_stack.client.get(again.json()["url"]).content)  # rendered beside the others, then alone


def test_a_short_request_joins_the_running_loop_and_finishes_first(local_stack: RunningService) -> None:
    """Continuous batching: a short request sent while a long chunk decodes joins its loop at
    the next step (the joins counter says so) instead of waiting for the loop to end, and its
    answer arrives before the long one's."""
    voice = upload_voice(local_stack, "join-voice")
    steps_before, _, joins_before = decode_steps(local_stack)
    finished: list[str] = []
    busy: dict[str, httpx.Response] = {}

    def speak_long() -> None:
        with local_stack.new_client() as client:
            busy["response"] = client.post("/api/v1/tts", json={"text": ONE_CHUNK, "voice": voice, "seed": LONG_SEED})
        finished.append(ONE_CHUNK)

    first = threading.Thread(target=speak_long)
    first.start()
    wait_until(lambda: decode_steps(local_stack)[0] > steps_before, 300, "the long request's decoding began")
    [short] = asyncio.run(speak_together(local_stack, [{"text": SHORT_TEXT, "voice": voice, "seed": SHORT_SEED}], finished))
    first.join(600)
    assert busy["response"].status_code == 200 and short.status_code == 200
    assert finished == [SHORT_TEXT, ONE_CHUNK]
    assert decode_steps(local_stack)[2] - joins_before == 1


def test_without_batching_each_request_decodes_alone(s3_stack: RunningService) -> None:
    voice = upload_voice(s3_stack, "alone-voice")
    steps_before, single_before, joins_before = decode_steps(s3_stack)
    bodies = [{"text": text, "voice": voice, "seed": 3} for text in (*SHORT_TEXTS, "A third one.")]
    responses = asyncio.run(speak_together(s3_stack, bodies, []))
    assert all(response.status_code == 200 for response in responses), [response.text for response in responses]
    steps, single, joins = decode_steps(s3_stack)
    assert steps - steps_before == single - single_before > 0 and joins == joins_before  # no step decoded two requests


def test_health_and_metrics_report_cache_hit_rate_memory_and_stage_times(local_stack: RunningService) -> None:
    voice = upload_voice(local_stack, "metrics-voice")
    for seed in (1, 2):
        assert local_stack.client.post("/api/v1/tts", json={"text": "Counting cache hits.", "voice": voice, "seed": seed}).status_code == 200
    tts = local_stack.health()["tts"]
    assert tts["conditioning_cache_hits"] >= 1 and tts["conditioning_cache_misses"] >= 1
    assert tts["conditioning_cache_hit_rate"] == round(tts["conditioning_cache_hits"] / (tts["conditioning_cache_hits"] + tts["conditioning_cache_misses"]), 4)
    assert tts["memory_rss_bytes"] > 100 * 2**20  # the runner holds its model
    assert tts["gpu_memory_peak_bytes"] is None and tts["gpu_memory_allocated_bytes"] is None  # the model runs on the CPU (CHATTERBOX_DEVICE=cpu), GPU or not
    assert (tts["dtype"], tts["kv_cache"], tts["cuda_graphs"]) == ("float32", KV_CACHE, False)  # the stack's choices; graphs are CUDA's
    samples = metric_samples(local_stack.client)
    lookups = samples["chatterbox_conditioning_cache_lookups_total"]
    assert lookups[(("model", "tts"), ("result", "hit"))] == tts["conditioning_cache_hits"]
    assert lookups[(("model", "tts"), ("result", "miss"))] == tts["conditioning_cache_misses"]
    stages = samples["chatterbox_stage_seconds_total"]
    for model, stage in (("tts", "conditioning"), ("tts", "t3"), ("tts", "s3gen"), ("tts", "watermark"), ("api", "encode")):
        assert stages[(("model", model), ("stage", stage))] > 0, (model, stage)
