"""Voice-library benchmark: search latency over HTTP and cold index load, at library scale.

For each backend (a local folder, and a moto S3 server on 127.0.0.1) it writes N voices
straight into storage (records built from one real analysed upload, varied in name, folder,
tags, description and duration; each with its two audio objects, so listings are as large as
in production), then:

- cold index load: `VoiceLibrary.sync()` on an empty index, in process: a first start (one
  listing plus a GET per record) and a later one that finds the index snapshot; the memory
  the index holds (tracemalloc), and a re-sync when nothing changed (the periodic cost);
- search latency: starts `bentoml serve` on that storage and times sequential
  `GET /api/v1/voices?search=...&page_size=50` requests (rotating search words), p50/p95,
  and the same for a folder + tag filter sorted by usage;
- for scale, how long answering one search would take without the index (list + read every
  record), as a ratio to the indexed p50.

Run: .venv/bin/python benchmarks/voice_library.py [--voices 10000] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.uploads import decode_upload  # noqa: E402
from config import VoiceSettings  # noqa: E402
from contract.voice_layout import audio_keys, record_key  # noqa: E402
from harness.processes import S3_CREDENTIALS, free_port, start_bentoml, start_moto, stop  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402
from storage import Storage  # noqa: E402
from storage.local import LocalStorage  # noqa: E402
from storage.s3 import S3Storage  # noqa: E402
from voices.library import VoiceLibrary  # noqa: E402
from voices.metadata import VoiceMetadata, VoiceMetadataPatch  # noqa: E402
from voices.prepared_audio import prepare  # noqa: E402
from voices.store import VoiceStore

WORDS = ["warm", "deep", "bright", "calm", "raspy", "soft", "clear", "gravelly", "young", "old", "fast", "slow"]
LANGUAGES = ["en", "de", "fr", "es", "it", "ja"]
SEARCHES = ["warm", "narrator deep", "bright calm", "voice-0042", "gravelly old", "es soft", "nothing-matches-this"]
logging.basicConfig(level=logging.WARNING)


def template() -> tuple[VoiceMetadata, bytes, bytes]:
    upload = decode_upload((TESTDATA / "voice_alex.wav").read_bytes(), "voice_alex.wav", "file", sample_rate=24_000, min_seconds=1, max_seconds=300)
    audio = prepare(upload)
    now = datetime.now(timezone.utc)
    return audio.metadata("template", VoiceMetadataPatch(), None, now), upload.data[:64], audio.reference_wav[:64]


def synthetic(base: VoiceMetadata, i: int) -> VoiceMetadata:
    name = f"voice-{i:05d}"
    original_key, reference_key = audio_keys(name, base.content_hash, "wav")
    language = LANGUAGES[i % len(LANGUAGES)]
    words = [WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)]]
    created = base.created_at - timedelta(minutes=i)
    return base.model_copy(update={
        "name": name, "display_name": f"Voice {i}", "description": f"A {' and '.join(words)} narrator voice, take {i % 13}",
        "tags": [language, words[0], "narrator" if i % 3 == 0 else "character"], "folder": f"{['books', 'games', 'ads'][i % 3]}/{language}",
        "audio": base.audio.model_copy(update={"duration_seconds": 3 + (i % 270) / 10}), "usage_count": (i * 37) % 101,
        "created_at": created, "updated_at": created, "original_key": original_key, "reference_key": reference_key,
    })


def populate(storage: Storage, count: int) -> float:
    base, original, reference = template()

    def write(i: int) -> None:
        metadata = synthetic(base, i)
        storage.put(metadata.original_key, original)
        storage.put(metadata.reference_key, reference)
        storage.put(record_key(metadata.name), metadata.model_dump_json(indent=2).encode(), "application/json")

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(count)))
    return time.perf_counter() - started


def new_library(storage: Storage, workers: int) -> VoiceLibrary:
    settings = VoiceSettings(index_refresh_seconds=0, usage_flush_seconds=60, snapshot_seconds=0, read_workers=workers)
    return VoiceLibrary(VoiceStore(storage, workers), settings)


def cold_load(storage: Storage, workers: int) -> dict[str, float]:
    """A first start (one GET per record), then, once a snapshot exists, a later start."""
    library = new_library(storage, workers)
    tracemalloc.start()
    started = time.perf_counter()
    report = library.sync()
    seconds = time.perf_counter() - started
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    resync_started = time.perf_counter()
    library.sync()
    resync = time.perf_counter() - resync_started
    library.save_snapshot()
    started = time.perf_counter()
    with_snapshot = new_library(storage, workers).sync()
    assert with_snapshot.from_snapshot == report.entries and with_snapshot.fetched == 0
    return {
        "voices": report.entries, "cold_load_s": seconds, "cold_load_with_snapshot_s": time.perf_counter() - started,
        "index_mib": memory / 2**20, "resync_unchanged_s": resync,
    }


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def time_requests(client: httpx.Client, params_list: list[dict], requests: int) -> dict[str, float]:
    for params in params_list:  # warm up
        client.get("/api/v1/voices", params=params).raise_for_status()
    latencies = []
    for i in range(requests):
        started = time.perf_counter()
        response = client.get("/api/v1/voices", params=params_list[i % len(params_list)])
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "requests": requests}


def run_backend(backend: str, voices: int, requests: int, workers: int, work: Path) -> dict:
    env = {"STORAGE_BACKEND": backend, "BENTOML_HOME": str(work / "bentoml"), "CHATTERBOX_VOICES__READ_WORKERS": str(workers)}
    moto = None
    if backend == "s3":
        moto, endpoint = start_moto(work / "moto.log")
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        storage: Storage = S3Storage("bench", "lib", endpoint, "us-east-1")
        env |= {"S3_BUCKET": "bench", "S3_PREFIX": "lib", "S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1"}
    else:
        storage = LocalStorage(work / "data")
        env["STORAGE_DIR"] = str(work / "data")
    try:
        result: dict = {"backend": backend, "populate_s": populate(storage, voices)}
        result |= cold_load(storage, workers)
        port = free_port()
        started = time.perf_counter()
        service = start_bentoml(env, work / "serve.log", port)
        result["service_ready_s"] = time.perf_counter() - started
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                total = client.get("/api/v1/voices", params={"page_size": 1}).json()["total"]
                assert total == voices, f"service lists {total} voices, expected {voices}"
                result["search"] = time_requests(client, [{"search": s, "page_size": 50} for s in SEARCHES], requests)
                filters = [{"folder": f"books/{lang}", "tag": "narrator", "sort": "usage_count", "order": "desc", "page_size": 50} for lang in LANGUAGES]
                result["filter_sort"] = time_requests(client, filters, requests)
        finally:
            stop(service)
        result["without_index_ratio"] = result["cold_load_s"] * 1000 / result["search"]["p50_ms"]
        return result
    finally:
        if moto is not None:
            stop(moto)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--read-workers", type=int, default=16)
    parser.add_argument("--backends", nargs="+", default=["local", "s3"], choices=["local", "s3"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.update(S3_CREDENTIALS)  # moto accepts any key; boto3 wants one
    results = []
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix=f"voice-bench-{backend}-") as folder:
            results.append(run_backend(backend, args.voices, args.requests, args.read_workers, Path(folder)))
            print(json.dumps(results[-1], indent=2), flush=True)
    print(f"\n{args.voices} voices, {args.requests} sequential requests per query kind\n")
    print("| backend | search p50 | search p95 | filter+sort p50 | filter+sort p95 | cold index load | with snapshot | re-sync (no change) | index memory | without index (ratio to search p50) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['backend']} | {r['search']['p50_ms']:.1f} ms | {r['search']['p95_ms']:.1f} ms | {r['filter_sort']['p50_ms']:.1f} ms | "
            f"{r['filter_sort']['p95_ms']:.1f} ms | {r['cold_load_s']:.2f} s | {r['cold_load_with_snapshot_s']:.2f} s | {r['resync_unchanged_s']:.2f} s | {r['index_mib']:.0f} MiB | "
            f"{r['without_index_ratio']:.0f}x slower |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
