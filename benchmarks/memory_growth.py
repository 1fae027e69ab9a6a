"""Memory under a long run: many requests over more voices than the conditioning cache holds.

Starts `bentoml serve` (random weights unless CHATTERBOX_MODEL_SOURCE says otherwise) with a
conditioning cache smaller than the number of voices, uploads the voices (slices of the two
test recordings at different offsets, so each has its own content hash and conditionals),
then sends --requests TTS requests from --concurrency clients, cycling through the voices, and
reads the TTS runner's memory from /api/v1/health every --sample-every requests: resident
memory, and on a GPU PyTorch's allocated and peak CUDA memory. Growth is measured from the
first sample (after the warm-up that fills the cache) to the last.

Run: .venv/bin/python benchmarks/memory_growth.py [--requests 1000] [--voices 50] [--device cuda]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.batching_load import SENTENCES, upload_voices  # noqa: E402
from harness.processes import free_port, start_bentoml, stop  # noqa: E402


async def run(client: httpx.AsyncClient, voices: list[str], requests: int, concurrency: int, sample_every: int) -> list[dict]:
    samples: list[dict] = []
    next_request = 0

    async def sample(done: int) -> None:
        tts = (await client.get("/api/v1/health")).json()["tts"]
        samples.append({"requests": done} | {key: tts[key] for key in ("memory_rss_bytes", "gpu_memory_allocated_bytes", "gpu_memory_peak_bytes", "conditioning_cache_entries", "conditioning_cache_hit_rate")})
        print(json.dumps(samples[-1]), file=sys.stderr, flush=True)

    async def client_loop() -> None:
        nonlocal next_request
        while next_request < requests:
            number = next_request
            next_request += 1
            body = {"text": SENTENCES[number % len(SENTENCES)], "voice": voices[number % len(voices)], "seed": number}
            (await client.post("/api/v1/tts", json=body)).raise_for_status()
            if (number + 1) % sample_every == 0:
                await sample(number + 1)

    await sample(0)
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--voices", type=int, default=50)
    parser.add_argument("--cache-size", type=int, default=16, help="tts.conditioning_cache_size (below --voices, so entries are evicted)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=10, help="speech tokens per request (10 is the configured minimum)")
    parser.add_argument("--voice-seconds", type=float, default=1.5)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--t3-layers", type=int, default=2)
    parser.add_argument("--device", default=os.environ.get("CHATTERBOX_DEVICE", "cpu"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        port = free_port()
        env = {
            "STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "data"), "BENTOML_HOME": str(work / "bentoml"), "CHATTERBOX_DEVICE": args.device,
            "CHATTERBOX_TTS__MAX_NEW_TOKENS": str(args.max_new_tokens), "CHATTERBOX_TTS__CONDITIONING_CACHE_SIZE": str(args.cache_size),
            "CHATTERBOX_MODEL__RANDOM_T3_LAYERS": str(args.t3_layers), "CHATTERBOX_MODEL__RANDOM_S3GEN": "full", "CHATTERBOX_OUTPUTS__MAX_TOTAL_BYTES": str(50 * 2**20),
        }
        service = start_bentoml(env, work / "serve.log", port, timeout=900)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600) as client:
                voices = upload_voices(client, args.voices, args.voice_seconds)
                for voice in voices[: args.cache_size]:  # warm-up: the cache full before the first sample
                    client.post("/api/v1/tts", json={"text": SENTENCES[0], "voice": voice, "seed": 0}).raise_for_status()

            async def go() -> list[dict]:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3600) as client:
                    return await run(client, voices, args.requests, args.concurrency, args.sample_every)

            samples = asyncio.run(go())
        finally:
            stop(service)
    first, last = samples[0], samples[-1]
    rss = [sample["memory_rss_bytes"] for sample in samples]
    report = {
        "device": args.device, "requests": args.requests, "voices": args.voices, "cache_size": args.cache_size, "concurrency": args.concurrency,
        "rss_first_mib": round(first["memory_rss_bytes"] / 2**20, 1), "rss_last_mib": round(last["memory_rss_bytes"] / 2**20, 1),
        "rss_peak_mib": round(max(rss) / 2**20, 1), "rss_growth_mib": round((last["memory_rss_bytes"] - first["memory_rss_bytes"]) / 2**20, 1),
        "gpu_allocated_first_mib": first["gpu_memory_allocated_bytes"] and round(first["gpu_memory_allocated_bytes"] / 2**20, 1),
        "gpu_allocated_last_mib": last["gpu_memory_allocated_bytes"] and round(last["gpu_memory_allocated_bytes"] / 2**20, 1),
        "gpu_peak_mib": last["gpu_memory_peak_bytes"] and round(last["gpu_memory_peak_bytes"] / 2**20, 1),
        "cache_entries_last": last["conditioning_cache_entries"], "cache_hit_rate_last": last["conditioning_cache_hit_rate"], "samples": samples,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
