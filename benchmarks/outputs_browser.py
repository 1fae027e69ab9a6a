"""Outputs-browser benchmark: listing latency over HTTP and index load, at 100,000 outputs.

Writes N outputs straight into a local store (a companion per output, built like the
service's, with varied type, voice, text, duration and date, plus a small audio object), then:

- index load, in process: `OutputLibrary.sync()` on an empty index, the first time (one
  listing plus a GET per companion) and after a snapshot was written (one listing plus the
  snapshot); the memory the index holds (tracemalloc);
- latency: starts `bentoml serve` on that store and times sequential requests of several
  kinds (search, type filter sorted by duration, voice and date filters, a bulk lookup of
  50 names), p50/p95 for each.

Run: .venv/bin/python benchmarks/outputs_browser.py [--outputs 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import OutputSettings  # noqa: E402
from harness.processes import free_port, start_bentoml, stop  # noqa: E402
from outputs.library import OutputLibrary  # noqa: E402
from outputs.store import OutputMetadata, OutputStore, companion_key, new_output_name  # noqa: E402
from storage.local import LocalStorage  # noqa: E402

WORDS = ["museum", "garden", "ticket", "painting", "history", "lunch", "weather", "river", "castle", "market", "station", "library"]
VOICES = [f"voice-{n:03d}" for n in range(200)]
logging.basicConfig(level=logging.WARNING)


def populate(root: Path, count: int) -> list[str]:
    """Files written directly (setup, not what is measured): same keys and JSON as the service."""
    rng = random.Random(0)
    now = datetime.now(timezone.utc)
    (root / "outputs").mkdir(parents=True)
    names = []
    for number in range(count):
        kind = rng.choice(["tts", "tts", "tts", "vc", "concat"])
        created = now - timedelta(minutes=number * 3)
        text = " ".join(rng.choices(WORDS, k=12)) + f" item {number}"
        voice = rng.choice(VOICES)
        filename = new_output_name(kind, "wav", {"voice": voice}, now=created)
        metadata = OutputMetadata(
            filename=filename, type=kind, created_at=created, format="wav", content_type="audio/wav", sample_rate=24000,
            duration_seconds=round(rng.uniform(1, 60), 3), size_bytes=rng.randint(10_000, 3_000_000), generation_seconds=1.0,
            model_source="huggingface", voice=voice, parameters={"text": text, "seed": number, "exaggeration": 0.5, "cfg_weight": 0.5, "output_format": "wav"},
        )
        (root / "outputs" / filename).write_bytes(b"RIFF")
        (root / companion_key(filename)).write_text(metadata.model_dump_json(indent=2))
        names.append(filename)
    return names


def timed(client: httpx.Client, requests: list[tuple[str, object]]) -> dict[str, float]:
    latencies = []
    for method, params in requests:
        started = time.perf_counter()
        if method == "POST":
            response = client.post("/api/v1/outputs/lookup", json=params)
        else:
            response = client.get("/api/v1/outputs", params=params)  # type: ignore[arg-type]
        response.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {"p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    settings = OutputSettings(index_refresh_seconds=30, snapshot_seconds=60, retention_check_seconds=300, max_age_days=0, max_total_bytes=0, download_mode="proxy", redirect_seconds=300)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        started = time.perf_counter()
        names = populate(work / "data", args.outputs)
        report: dict[str, object] = {"outputs": args.outputs, "populate_seconds": round(time.perf_counter() - started, 1)}

        store = OutputStore(LocalStorage(work / "data"))
        tracemalloc.start()
        first = OutputLibrary(store, settings)
        started = time.perf_counter()
        first.sync()
        report["cold_load_seconds"] = round(time.perf_counter() - started, 2)
        report["index_memory_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
        tracemalloc.stop()
        first.save_snapshot()
        started = time.perf_counter()
        first.sync()
        report["resync_unchanged_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        OutputLibrary(store, settings).sync()
        report["cold_load_with_snapshot_seconds"] = round(time.perf_counter() - started, 2)

        port = free_port()
        env = {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "data"), "BENTOML_HOME": str(work / "bentoml")}
        service = start_bentoml(env, work / "serve.log", port)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
            rng = random.Random(1)
            n = args.requests
            kinds = {
                "search_two_words": [("GET", {"search": " ".join(rng.sample(WORDS, 2)), "page_size": 50}) for _ in range(n)],
                "type_sorted_by_duration": [("GET", {"type": rng.choice(["vc", "concat"]), "sort": "duration", "page_size": 50}) for _ in range(n)],
                "voice_and_date_range": [
                    ("GET", {"voice": rng.choice(VOICES), "created_after": (datetime.now(timezone.utc) - timedelta(days=rng.randint(10, 200))).isoformat()}) for _ in range(n)
                ],
                "newest_page": [("GET", {"page": rng.randint(1, 20), "page_size": 50}) for _ in range(n)],
                "lookup_50_names_get": [("GET", [("names", name) for name in rng.sample(names, 50)]) for _ in range(n)],
                "lookup_50_names_post": [("POST", {"names": rng.sample(names, 50)}) for _ in range(n)],
            }
            timed(client, kinds["newest_page"][:10])  # warm-up
            report["latency"] = {kind: timed(client, requests) for kind, requests in kinds.items()}
        finally:
            stop(service)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
