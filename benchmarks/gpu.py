"""One GPU, measured: what each model's T3 and S3Gen do at every batch size and precision,
then the served stack under load. A machine with one GPU runs it in under 8 minutes, with no
network (full-size random weights unless --source names real checkpoints).

Models (each model and dtype in a process of its own, so peak memory is its own):
- T3: --rows requests decoded in one continuous loop (`decode_batch`), each --tokens speech
  tokens; step time (the loop's wall time over its steps) and x real time (audio seconds
  made per second), in each --dtypes and each --kv store: `dynamic` (a cache grown each
  step), `static` (allocated once, `models/kv_rows.py`) and `graphs` (static, each step a
  replayed CUDA graph, `models/step_graphs.py`; CUDA only). Each row says whether its tokens
  equal the dynamic cache's at the same rows (`same_tokens`); a level is warmed up (graphs
  captured) with a short run first.
- S3Gen: --render-batch renders of --tokens tokens in one flow pass (`models/s3gen_flow.py`)
  against the same renders one by one, x real time each way.
- peak GPU memory (PyTorch's allocation) and the model's parameters.

Served (`bentoml serve`, Turbo alone, or the stack at --url): closed-loop clients on the
OpenAI route (`/v1/audio/speech`, `tts-1`, streamed pcm), each sending its next request when
its last ended, at each of --clients: aggregate x real time, time to first audio p50/p95,
latency p95, mean T3 rows per step, and seconds per stage (from /metrics).

Run: .venv/bin/python benchmarks/gpu.py [--device cuda] [--json docs/benchmarks/gpu-h200.json]
     .venv/bin/python benchmarks/gpu.py --device cpu --smoke [--models turbo --url URL]   (small models, a few rows and
     requests, in one process: proves the script runs; tests/test_gpu_benchmark.py runs it against the shared stack)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from benchmarks.batching_load import percentile, scrape  # noqa: E402
from benchmarks.results import add_json_option, publish  # noqa: E402
from contract.families import MODEL_NAMES  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402

REAL_T3_LAYERS = {"original": 30, "multilingual": 30, "turbo": 24}
TOKENS_PER_SECOND = 25
SAMPLE_RATE = 24_000
TEXT = "The museum opens at nine, and the first tour leaves from the main hall."
SENTENCES = (
    "It rained all night, and the river rose.",
    "Could you send me the report by Friday afternoon?",
    "The museum opens at nine, and the first tour leaves from the main hall.",
    "Welcome back! Your order has shipped and should arrive on Tuesday.",
)
VOICE = "gpu-benchmark"
VOICE_SECONDS = 8.0  # Turbo takes references longer than 5 s


def model_figures(name: str, dtype: str, args: argparse.Namespace) -> dict[str, Any]:
    """One model in one dtype, measured in this process."""
    import torch

    from audio.decoding import decode
    from benchmarks.timing import device_seconds
    from config import ModelSettings
    from contract.runner_jobs import TTSJob
    from harness.model_settings import engine_settings
    from models.conditioning import with_exaggeration
    from models.families import family_class
    from models.kv_rows import PROMPT_COLUMNS, KVPlan
    from models.loader import load_tts
    from models.s3gen_flow import render_rows
    from models.t3_loop import decode_batch

    device = args.device
    settings = ModelSettings(
        source=args.source, dir=None, device=device, dtype=dtype, hf_repo_id="ResembleAI/chatterbox", random_seed=0,
        random_t3_layers=1 if args.smoke else REAL_T3_LAYERS[name], random_s3gen="small" if args.smoke else "full",
    )
    loaded = load_tts(settings, name)
    model = loaded.model
    family = family_class(name)(model)
    reference = decode((TESTDATA / "voice_alex.wav").read_bytes(), SAMPLE_RATE).samples
    conds = with_exaggeration(family.conditionals(np.tile(reference, 2)), 0.5, model.device)
    text_tokens = family.text_tokens(TEXT, "en")
    configured = engine_settings(args.tokens + 1)

    def requests(count: int, tokens: int = args.tokens) -> list:
        return [family.decode_request(TTSJob(text=TEXT, seed=seed, language="en"), text_tokens, conds.t3, configured, stop_after=tokens) for seed in range(count)]

    t3 = []
    with torch.inference_mode():
        decode_batch(model.t3, requests(1))  # warm-up
        dynamic: dict[int, list] = {}
        for kv_name in args.kv:
            plan = KVPlan(static=kv_name != "dynamic", graphs=kv_name == "graphs", columns=args.tokens + PROMPT_COLUMNS)
            kv = plan.rows_for(model.t3, max(args.rows))
            for rows in args.rows:
                decode_batch(model.t3, requests(rows, 2), kv=kv)  # warm-up: this size's graph captured
                tokens: list = []
                wall = device_seconds(lambda rows=rows, kv=kv, tokens=tokens: tokens.extend(decode_batch(model.t3, requests(rows), kv=kv)), device, warm_up=False)
                dynamic.setdefault(rows, tokens)
                t3.append({
                    "kv": kv_name, "rows": rows, "step_ms": round(1000 * wall / (args.tokens + 1), 2), "x_realtime": round(rows * args.tokens / TOKENS_PER_SECOND / wall, 2),
                    "same_tokens": all(mine.equal(theirs) for mine, theirs in zip(tokens, dynamic[rows], strict=True)),
                })
        speech = decode_batch(model.t3, requests(1))[0].tolist()
        flow_rows = [family.flow_row(speech, conds.gen, seed) for seed in range(args.render_batch)]
        render_rows(model.s3gen, flow_rows[:1], [0])  # warm-up
        audio_seconds = args.render_batch * len(family.audio_tokens(speech)) / TOKENS_PER_SECOND
        batched = device_seconds(lambda: render_rows(model.s3gen, flow_rows, list(range(len(flow_rows)))), device, warm_up=False)
        alone = device_seconds(lambda: [render_rows(model.s3gen, [row], [seed]) for seed, row in enumerate(flow_rows)], device, warm_up=False)
    return {
        "model": name, "dtype": loaded.dtype, "device": device, "source": loaded.source, "tokens": args.tokens,
        "t3_parameters_m": round(sum(p.numel() for p in model.t3.parameters()) / 1e6, 1),
        "s3gen_parameters_m": round(sum(p.numel() for p in model.s3gen.parameters()) / 1e6, 1),
        "t3": t3,
        "s3gen": {"renders": args.render_batch, "batched_x_realtime": round(audio_seconds / batched, 2), "one_by_one_x_realtime": round(audio_seconds / alone, 2),
                  "batching_speedup": round(alone / batched, 2)},
        "gpu_peak_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
    }


async def speak(client: httpx.AsyncClient, text: str, seed: int) -> tuple[float, float, float] | str:
    """Seconds to the first audio byte and to the last, and seconds of audio (16-bit pcm)."""
    started = time.perf_counter()
    first, received = None, 0
    body = {"model": "tts-1", "input": text, "voice": VOICE, "response_format": "pcm", "stream_format": "audio", "seed": seed}
    async with client.stream("POST", "/v1/audio/speech", json=body) as response:
        async for piece in response.aiter_raw():
            if first is None and piece:
                first = time.perf_counter() - started
            received += len(piece)
    if response.status_code != 200:
        return f"{response.status_code}"
    total = time.perf_counter() - started
    return first or total, total, received / 2 / SAMPLE_RATE


async def closed_loop(url: str, headers: dict[str, str], clients: int, requests: int) -> tuple[list[tuple[float, float, float]], list[str], float]:
    pending = list(range(requests))
    timings: list[tuple[float, float, float]] = []
    errors: list[str] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while pending:
            number = pending.pop()
            outcome = await speak(client, SENTENCES[number % len(SENTENCES)], number)
            (errors.append if isinstance(outcome, str) else timings.append)(outcome)  # type: ignore[arg-type]

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=3600, limits=httpx.Limits(max_connections=None)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return timings, errors, time.perf_counter() - started


def served_figures(url: str, headers: dict[str, str], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        samples, rate = sf.read(TESTDATA / "voice_alex.wav", dtype="float32")
        clip = io.BytesIO()
        sf.write(clip, np.tile(samples, int(VOICE_SECONDS * rate // len(samples)) + 1)[: int(VOICE_SECONDS * rate)], rate, format="WAV")
        client.post("/api/v1/voice", files={"file": ("gpu.wav", clip.getvalue())}, data={"name": VOICE, "overwrite": "true"}).raise_for_status()
        try:
            asyncio.run(closed_loop(url, headers, 1, 1))  # warm-up: the voice's conditioning
            for clients in args.clients:
                before = scrape(client)
                timings, errors, wall = asyncio.run(closed_loop(url, headers, clients, max(clients * args.rounds, 2)))
                after = scrape(client)
                delta = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
                firsts, totals, audio = zip(*timings, strict=True) if timings else ((0.0,), (0.0,), (0.0,))
                steps = delta.get("chatterbox_t3_decode_batch_chunks_count", 0.0)
                rows.append({
                    "clients": clients, "requests": len(timings) + len(errors), "errors": len(errors), "wall_seconds": round(wall, 2),
                    "x_realtime": round(sum(audio) / wall, 2),
                    "first_audio_p50_s": round(percentile(list(firsts), 0.5), 3), "first_audio_p95_s": round(percentile(list(firsts), 0.95), 3),
                    "latency_p95_s": round(percentile(list(totals), 0.95), 3),
                    "mean_t3_rows_per_step": round(delta.get("chatterbox_t3_decode_batch_chunks_sum", 0.0) / steps, 2) if steps else None,
                    "stage_seconds": {stage: round(value, 2) for stage, value in delta.items() if not stage.startswith("chatterbox_")},
                })
        finally:
            client.delete(f"/api/v1/voices/{VOICE}")
    return rows


def served(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The load at --url, or on a `bentoml serve` of this checkout started for it (Turbo alone)."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    if args.url:
        return served_figures(args.url, headers, args)
    import tempfile

    from harness.stacks import benchmark_stack

    env = {
        "CHATTERBOX_MODELS": "turbo", "CHATTERBOX_DEFAULT_MODEL": "turbo", "CHATTERBOX_DEVICE": args.device, "CHATTERBOX_MODEL_SOURCE": args.source,
        "CHATTERBOX_MODEL__RANDOM_T3_LAYERS": "1" if args.smoke else str(REAL_T3_LAYERS["turbo"]), "CHATTERBOX_MODEL__RANDOM_S3GEN": "small" if args.smoke else "full",
        "CHATTERBOX_RUNNER__MAX_BATCH_SIZE": str(max(2, *args.clients)), "CHATTERBOX_LIMITS__MAX_PENDING_GENERATIONS": "0",
    }
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as work, benchmark_stack("local", Path(work), env) as service:
        return served_figures(service.base_url, headers, args)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--source", default="random", choices=["random", "local", "huggingface"])
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 32, 64, 128], help="requests in one T3 loop")
    parser.add_argument("--kv", nargs="+", choices=["dynamic", "static", "graphs"], help="T3's KV stores to measure besides dynamic (default: graphs on cuda, static elsewhere)")
    parser.add_argument("--tokens", type=int, default=100, help="speech tokens per request (25 a second of audio)")
    parser.add_argument("--render-batch", type=int, default=8, help="renders in one S3Gen pass")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64, 128], help="closed-loop clients on the served stack")
    parser.add_argument("--rounds", type=int, default=3, help="requests per client at each level")
    parser.add_argument("--url", help="load a running stack instead of starting one (it must serve Turbo as tts-1)")
    parser.add_argument("--api-key", help="for --url, when the stack has API keys")
    parser.add_argument("--smoke", action="store_true", help="small models, one row, one client, few tokens: proves the script runs")
    add_json_option(parser)
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stores = args.kv or (["graphs"] if args.device == "cuda" else ["static"])
    args.kv = ["dynamic", *(store for store in stores if store != "dynamic")]  # first: the others' tokens are checked against its
    if args.smoke:
        args.dtypes, args.rows, args.tokens, args.render_batch, args.clients, args.rounds = args.dtypes[:1], [1, 2], 10, 2, [1], 1
    if args.worker:
        sys.stdout.write(json.dumps(model_figures(*args.worker, args)) + "\n")
        return
    started = time.perf_counter()
    models = []
    for name in args.models:
        for dtype in args.dtypes:
            if args.smoke:  # in this process: a smoke run proves the code, not the memory
                models.append(model_figures(name, dtype, args))
                continue
            command = [sys.executable, __file__, "--worker", name, dtype, *argv]
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ | {"TQDM_DISABLE": "1"}).stdout
            models.append(json.loads(output.strip().splitlines()[-1]))
            print(json.dumps(models[-1]), file=sys.stderr, flush=True)
    report = {"device": args.device, "gpu": gpu_name(args.device), "source": args.source, "smoke": args.smoke, "models": models, "served": served(args)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    publish(report, args.json)


def gpu_name(device: str) -> str | None:
    if device != "cuda":
        return None
    import torch

    return torch.cuda.get_device_name()


if __name__ == "__main__":
    main()
