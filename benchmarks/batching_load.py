"""Load generator: concurrent TTS requests against the running service, batching on and off,
and with `--baseline REF` the same against an older commit (batching on) in one run.

Starts `bentoml serve` for each mode on one store (random-weight models unless
CHATTERBOX_MODEL_SOURCE says otherwise): this tree with batching (`runner.batching: true`:
continuous batching), this tree without (one job at a time), and the baseline commit served
from a temporary git worktree. It uploads a few voices, then for each level runs the same
requests against one service after the other, so drift hits all alike:

- `--arrivals closed` (default): C clients, each sending its next request when its last one
  finished;
- `--arrivals poisson`: an open loop, requests sent at exponential gaps whatever the
  answers, the mean gap sized so that C would be in flight if each took as long as alone
  (the measured `mean_in_flight` says how many were): arrivals staggered as real traffic is.

Requests speak sentences of realistic lengths (40 to 200 characters, one chunk each) in
mixed voices through POST /api/v1/tts, streamed. Random mode ends each utterance after as
many speech tokens as saying it takes; these sentences take longer than `--max-new-tokens`
(25 tokens per second of audio), so the cap decides: every request makes the same amount of
audio in every mode. S3Gen is the full-size one (`model.random_s3gen: full`) unless
`--s3gen small`, as in the figures of docs/performance.md. Reported per level and mode: throughput (seconds of audio
per wall second), p50/p95 latency and time to first byte, failed requests, the mean T3
batch (chunks per T3 step; per loop on code before continuous batching), and where the model
time went (`chatterbox_stage_seconds` from /metrics); the summary gives the ratios.

Run: .venv/bin/python benchmarks/batching_load.py [--levels 1 2 4 8 16] [--max-new-tokens 50] [--arrivals poisson] [--baseline REF]
On a GPU: .venv/bin/python benchmarks/batching_load.py --device cuda --t3-layers 30
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import soundfile as sf
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.baseline import add_baseline_option, worktree  # noqa: E402
from benchmarks.results import add_json_option, publish  # noqa: E402
from harness.processes import free_port, start_bentoml, stop  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402

SENTENCES = [
    "The train to the airport leaves every twenty minutes.",
    "Please remember to switch off your phone before the film starts.",
    "Our quarterly results were better than expected, and we thank every team for their work this year.",
    "Turn left at the second light, then keep going until you see the blue gate on your right.",
    "It rained all night.",
    "The museum opens at nine, and the first guided tour leaves from the main hall at half past nine every morning.",
    "Could you send me the report by Friday afternoon?",
    "Add two cups of flour, a pinch of salt and the melted butter, then stir slowly until the dough is smooth and no longer sticks to the bowl.",
    "Welcome back! Your order has shipped.",
    "In the northern valleys the snow stays until late spring, so the farmers plant later than anyone else in the country.",
]
STAGES = ("conditioning", "t3", "s3gen", "watermark", "encode")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def scrape(client: httpx.Client) -> dict[str, float]:
    """Stage seconds, summed over processes, plus the T3 batch histogram's sum and count."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "chatterbox_stage_seconds_total":
                key = f"{sample.labels['stage']}" if sample.labels["model"] in ("tts", "api") else None
                if key:
                    totals[key] = totals.get(key, 0.0) + sample.value
            elif sample.name in ("chatterbox_t3_decode_batch_chunks_sum", "chatterbox_t3_decode_batch_chunks_count"):
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


async def one_request(client: httpx.AsyncClient, body: dict) -> tuple[float, float, float] | str:
    """Seconds to the first body byte, to the last, and seconds of audio received; or the
    error the service answered with."""
    started = time.perf_counter()
    first = None
    data = bytearray()
    async with client.stream("POST", "/api/v1/tts", json=body) as response:
        async for piece in response.aiter_raw():
            if first is None and piece:
                first = time.perf_counter() - started
            data += piece
    if response.status_code != 200:
        return f"{response.status_code}: {bytes(data)[:300].decode(errors='replace')}"
    total = time.perf_counter() - started
    info = sf.info(io.BytesIO(bytes(data)))
    return first or total, total, info.frames / info.samplerate


def request_bodies(requests: int, voices: list[str], seed: int) -> list[dict]:
    picker = random.Random(seed)
    return [
        {"text": picker.choice(SENTENCES), "voice": picker.choice(voices), "seed": picker.randrange(2**31), "output_format": "wav", "response_mode": "stream"}
        for _ in range(requests)
    ]


def kept(outcome: tuple[float, float, float] | str, timings: list[tuple[float, float, float]], errors: list[str]) -> None:
    if isinstance(outcome, str):
        errors.append(outcome)
        print(f"request failed: {outcome}", file=sys.stderr, flush=True)
    else:
        timings.append(outcome)


async def closed_loop(base_url: str, concurrency: int, requests: int, voices: list[str], seed: int) -> dict:
    """`concurrency` clients, each sending its next request when its last one finished."""
    queue = list(reversed(request_bodies(requests, voices, seed)))
    timings: list[tuple[float, float, float]] = []
    errors: list[str] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while queue:
            kept(await one_request(client, queue.pop()), timings, errors)

    async with httpx.AsyncClient(base_url=base_url, timeout=3600) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return summary_of(timings, errors, wall, requests)


async def open_loop(base_url: str, in_flight: int, requests: int, voices: list[str], seed: int, alone_seconds: float) -> dict:
    """Poisson arrivals, whatever the answers: the mean gap is `alone_seconds / in_flight`, so
    `in_flight` requests would be under way at once if each took as long as alone (Little's law);
    how many really were is reported as `mean_in_flight`."""
    picker = random.Random(seed + 1)
    timings: list[tuple[float, float, float]] = []
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=3600, limits=httpx.Limits(max_connections=None)) as client:
        started = time.perf_counter()
        sent = []
        for body in request_bodies(requests, voices, seed):
            sent.append(asyncio.create_task(one_request(client, body)))
            await asyncio.sleep(picker.expovariate(in_flight / alone_seconds))
        for outcome in await asyncio.gather(*sent):
            kept(outcome, timings, errors)
        wall = time.perf_counter() - started
    return summary_of(timings, errors, wall, requests) | {"mean_in_flight": round(sum(total for _, total, _ in timings) / wall, 2)}


def summary_of(timings: list[tuple[float, float, float]], errors: list[str], wall: float, requests: int) -> dict:
    firsts, totals, audio = zip(*timings, strict=True) if timings else ((0.0,), (0.0,), (0.0,))
    return {
        "requests": requests,
        "errors": len(errors),
        "wall_seconds": round(wall, 2),
        "audio_seconds": round(sum(audio), 2),
        "throughput_audio_s_per_s": round(sum(audio) / wall, 4),
        "latency_p50_s": round(percentile(list(totals), 0.5), 2),
        "latency_p95_s": round(percentile(list(totals), 0.95), 2),
        "ttfb_p50_s": round(percentile(list(firsts), 0.5), 2),
        "ttfb_p95_s": round(percentile(list(firsts), 0.95), 2),
    }


def upload_voices(client: httpx.Client, count: int, seconds: float) -> list[str]:
    """`count` distinct voices: slices of the two test recordings at different offsets."""
    names = []
    for number in range(count):
        samples, rate = sf.read(TESTDATA / ("voice_alex.wav" if number % 2 == 0 else "voice_bella.wav"), dtype="float32")
        offset = int(((number // 2) * 0.1) % max(0.1, len(samples) / rate - seconds) * rate)
        clip = io.BytesIO()
        sf.write(clip, samples[offset : offset + int(seconds * rate)], rate, format="WAV")
        name = f"load-{number}"
        client.post("/api/v1/voice", files={"file": (f"{name}.wav", clip.getvalue())}, data={"name": name, "overwrite": "true"}).raise_for_status()
        names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="concurrency levels")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client at each level (at least 4 requests a level)")
    parser.add_argument("--max-new-tokens", type=int, default=50, help="speech tokens per request (25 a second of audio)")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--max-latency-ms", type=int, default=3600000)
    parser.add_argument("--voices", type=int, default=4, help="distinct voices the requests pick from")
    parser.add_argument("--voice-seconds", type=float, default=3.0, help="reference clip length (S3Gen's prompt)")
    parser.add_argument("--t3-layers", type=int, default=2, help="T3 layers of the random model (30 is the full-size 0.5B T3)")
    parser.add_argument("--device", default=os.environ.get("CHATTERBOX_DEVICE", "cpu"), help="cpu | cuda")
    parser.add_argument("--s3gen", choices=("full", "small"), default="full", help="random S3Gen's size (small: the tests' quick one)")
    parser.add_argument("--arrivals", choices=("closed", "poisson"), default="closed", help="closed: C clients in a loop; poisson: open-loop arrivals sized for C in flight")
    add_json_option(parser)
    add_baseline_option(parser)
    parser.add_argument("--log-dir", type=Path, help="keep the services' logs here (default: a temporary folder, removed at the end)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as trees:
        modes = {"batched": (ROOT, "true"), "unbatched": (ROOT, "false")}
        if args.baseline:
            modes["baseline"] = (trees.enter_context(worktree(args.baseline)), "true")
        work = Path(folder)
        logs = args.log_dir or work
        logs.mkdir(parents=True, exist_ok=True)
        base_env = {
            "STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "data"),
            "CHATTERBOX_TTS__MAX_NEW_TOKENS": str(args.max_new_tokens), "CHATTERBOX_MODEL__RANDOM_T3_LAYERS": str(args.t3_layers), "CHATTERBOX_MODEL__RANDOM_S3GEN": args.s3gen,
            "CHATTERBOX_RUNNER__MAX_BATCH_SIZE": str(args.max_batch_size), "CHATTERBOX_RUNNER__MAX_LATENCY_MS": str(args.max_latency_ms),
            "CHATTERBOX_DEVICE": args.device,
        }
        services, clients = {}, {}
        try:
            for mode, (root, batching) in modes.items():
                port = free_port()
                env = base_env | {"CHATTERBOX_RUNNER__BATCHING": batching, "BENTOML_HOME": str(work / f"bentoml-{mode}")}
                services[mode] = start_bentoml(env, logs / f"serve-{mode}.log", port, timeout=900, root=root)
                clients[mode] = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600)
            voices = upload_voices(clients["batched"], args.voices, args.voice_seconds)
            for mode, client in clients.items():  # warm up: every voice's conditionals cached, first-call costs paid
                while not set(voices) <= {voice["name"] for voice in client.get("/api/v1/voices", params={"page_size": 200}).json()["items"]}:
                    time.sleep(0.5)
                for voice in voices:
                    client.post("/api/v1/tts", json={"text": SENTENCES[0], "voice": voice, "seed": 0}).raise_for_status()
            health = clients["batched"].get("/api/v1/health").json()["tts"]
            started = time.perf_counter()
            clients["batched"].post("/api/v1/tts", json={"text": SENTENCES[1], "voice": voices[0], "seed": 1}).raise_for_status()
            alone_seconds = time.perf_counter() - started  # every request makes the same audio (the token cap decides)
            levels: dict[int, dict[str, dict]] = {}
            for concurrency in args.levels:
                requests = max(4, concurrency * args.rounds)
                for mode, client in clients.items():
                    before = scrape(client)
                    if args.arrivals == "poisson":
                        result = asyncio.run(open_loop(str(client.base_url), concurrency, requests, voices, concurrency, alone_seconds))
                    else:
                        result = asyncio.run(closed_loop(str(client.base_url), concurrency, requests, voices, seed=concurrency))
                    after = scrape(client)
                    spent = {stage: round(after.get(stage, 0.0) - before.get(stage, 0.0), 2) for stage in STAGES}
                    # one observation per T3 step (this tree) or per T3 loop (code before continuous batching)
                    observed = after.get("chatterbox_t3_decode_batch_chunks_count", 0) - before.get("chatterbox_t3_decode_batch_chunks_count", 0)
                    chunks = after.get("chatterbox_t3_decode_batch_chunks_sum", 0) - before.get("chatterbox_t3_decode_batch_chunks_sum", 0)
                    result |= {"mean_t3_batch": round(chunks / observed, 2) if observed else None, "stage_seconds": spent}
                    levels.setdefault(concurrency, {})[mode] = result
                    print(json.dumps({"concurrency": concurrency, "mode": mode} | result), file=sys.stderr, flush=True)
            first = levels[args.levels[0]]
            summary = {
                concurrency: {
                    "throughput_batched_over_unbatched": round(by_mode["batched"]["throughput_audio_s_per_s"] / by_mode["unbatched"]["throughput_audio_s_per_s"], 2),
                    "batched_p95_over_single_request_p95": round(by_mode["batched"]["latency_p95_s"] / first["unbatched"]["latency_p95_s"], 2),
                } | {
                    f"{mode}_ttfb_p95_over_its_first_level": round(result["ttfb_p95_s"] / first[mode]["ttfb_p95_s"], 2) for mode, result in by_mode.items()
                } | ({
                    "throughput_batched_over_baseline": round(by_mode["batched"]["throughput_audio_s_per_s"] / by_mode["baseline"]["throughput_audio_s_per_s"], 2),
                    "ttfb_p95_batched_over_baseline": round(by_mode["batched"]["ttfb_p95_s"] / by_mode["baseline"]["ttfb_p95_s"], 2),
                } if "baseline" in by_mode else {})
                for concurrency, by_mode in levels.items()
            }
            report = {
                "device": health["device"], "model_source": health["source"], "t3_layers": args.t3_layers, "max_new_tokens": args.max_new_tokens,
                "voices": args.voices, "max_batch_size": args.max_batch_size, "cpu_count": os.cpu_count(), "arrivals": args.arrivals,
                "alone_seconds": round(alone_seconds, 2), "baseline": args.baseline, "s3gen": args.s3gen, "levels": levels, "summary": summary,
            }
            publish(report, args.json)
        except BaseException:
            for mode in services:  # the logs go with the temporary folder: show their ends
                sys.stderr.write(f"--- serve-{mode}.log (end) ---\n" + (logs / f"serve-{mode}.log").read_text()[-6000:])
            raise
        finally:
            for client in clients.values():
                client.close()
            for service in services.values():
                stop(service)


if __name__ == "__main__":
    main()
