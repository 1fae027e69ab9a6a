"""Metadata benchmark: the voice library and the outputs browser on the database, at scale,
on SQLite and on PostgreSQL (a throwaway cluster, `harness/postgres.py`).

For each engine, a database migrated like the service's is filled with N outputs and M
voices (rows built exactly as the service builds them: varied type, voice, text, duration,
date, folder, tags, uses), then:

- inserts per second: the bulk fill, and outputs saved one transaction each (as requests do);
- query latency in process (the library calls the routes make), p50/p95 of each documented
  query: the outputs browser's (search, type sorted by duration, voice and date range, a
  newest page, a lookup of 50 names) and the voice library's (search, folder and tag
  filtered and sorted, the folder tree, usage stats);
- the API replica over HTTP: `start-http-server` of the API alone (as its Kubernetes pod
  runs it; no runner is needed to list), started on a database of 1,000 outputs and on the
  full one: cold start until listings answer, resident memory after a round of queries
  (the goal: no growth with row count), and the same queries' latency over HTTP;
- reindex: `scripts/db.py reindex`'s work on a local store holding R records.

Run: .venv/bin/python benchmarks/metadata.py [--outputs 1000000] [--voices 100000] [--reindex 100000]
     [--engines sqlite,postgresql] [--requests 50]   (about 20 minutes on 2 cores at the defaults)
The figures are printed as JSON; docs/performance.md records them.
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
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psutil
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import DatabaseSettings, OutputSettings, VoiceSettings  # noqa: E402
from contract.voice_layout import audio_keys  # noqa: E402
from db import Database  # noqa: E402
from db.engine import SQLITE_FILE  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.schema import voices as voices_table  # noqa: E402
from harness.postgres import PostgresServer  # noqa: E402
from harness.processes import free_port, launch, one_service_env, serve_command, stop, wait_ready  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402
from maintenance.reindex import reindex  # noqa: E402
from outputs.library import OutputLibrary  # noqa: E402
from outputs.query import OutputListQuery  # noqa: E402
from outputs.records import OutputRecords  # noqa: E402
from outputs.store import OutputMetadata, OutputStore, companion_key, new_output_name  # noqa: E402
from storage.local import LocalStorage  # noqa: E402
from voices.library import VoiceLibrary  # noqa: E402
from voices.metadata import VoiceMetadata, VoiceMetadataPatch  # noqa: E402
from voices.query import VoiceListQuery  # noqa: E402
from voices.records import new_row as new_voice_row  # noqa: E402
from voices.store import VoiceStore  # noqa: E402

WORDS = ["museum", "garden", "ticket", "painting", "history", "lunch", "weather", "river", "castle", "market", "station", "library"]
VOICE_NAMES = [f"voice-{n:05d}" for n in range(200)]
LANGUAGES = ["en", "de", "fr", "es", "ja"]
BATCH = 5000
SMALL = 1000  # outputs in the small database the API replica is also started on
OUTPUT_SETTINGS = OutputSettings(retention_check_seconds=300, max_age_days=0, max_total_bytes=0, download_mode="proxy", redirect_seconds=300)
VOICE_SETTINGS = VoiceSettings(usage_flush_seconds=60, read_workers=16)
logging.basicConfig(level=logging.WARNING)


def output(rng: random.Random, number: int, now: datetime) -> OutputMetadata:
    kind = rng.choice(["tts", "tts", "tts", "vc", "concat"])
    created = now - timedelta(seconds=number * 7)
    voice = rng.choice(VOICE_NAMES)
    return OutputMetadata(
        filename=new_output_name(kind, "wav", {"voice": voice}, now=created), type=kind, created_at=created, format="wav", content_type="audio/wav",
        sample_rate=24000, duration_seconds=round(rng.uniform(1, 60), 3), size_bytes=rng.randint(10_000, 3_000_000), generation_seconds=1.0,
        model_source="huggingface", voice=voice,
        parameters={"text": " ".join(rng.choices(WORDS, k=12)) + f" item {number}", "seed": number, "exaggeration": 0.5, "cfg_weight": 0.5, "output_format": "wav"},
    )


def outputs(count: int, seed: int = 0) -> Iterator[OutputMetadata]:
    rng, now = random.Random(seed), datetime.now(timezone.utc)
    return (output(rng, number, now) for number in range(count))


def voice_template() -> VoiceMetadata:
    from api.uploads import decode_upload
    from voices.prepared_audio import prepare

    upload = decode_upload((TESTDATA / "voice_alex.wav").read_bytes(), "voice_alex.wav", "file", sample_rate=24_000, min_seconds=1, max_seconds=300)
    return prepare(upload).metadata("template", VoiceMetadataPatch(), None, datetime.now(timezone.utc))


def voice(base: VoiceMetadata, i: int) -> VoiceMetadata:
    name = f"voice-{i:06d}"
    original_key, reference_key = audio_keys(name, base.content_hash, "wav")
    language, words = LANGUAGES[i % len(LANGUAGES)], [WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)]]
    created = base.created_at - timedelta(minutes=i)
    return base.model_copy(update={
        "name": name, "display_name": f"Voice {i}", "description": f"A {' and '.join(words)} narrator voice, take {i % 13}",
        "tags": [language, words[0], "narrator" if i % 3 == 0 else "character"], "folder": f"{['books', 'games', 'ads'][i % 3]}/{language}/{i % 50}",
        "audio": base.audio.model_copy(update={"duration_seconds": 3 + (i % 270) / 10}), "usage_count": (i * 37) % 101,
        "created_at": created, "updated_at": created, "original_key": original_key, "reference_key": reference_key,
    })


def batches(items: Iterator, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(database: Database, output_count: int, voice_count: int) -> dict[str, float]:
    records = OutputRecords()
    started = time.perf_counter()
    for batch in batches(outputs(output_count), BATCH):
        with database.write() as connection:
            records.insert(connection, batch)
    output_seconds = time.perf_counter() - started
    base = voice_template()
    started = time.perf_counter()
    for batch in batches((voice(base, i) for i in range(voice_count)), BATCH):
        with database.write() as connection:
            connection.execute(insert(voices_table), [new_voice_row(v) for v in batch])
    voice_seconds = time.perf_counter() - started
    if database.dialect == "postgresql":  # what autovacuum does soon after a bulk load: statistics, and the visibility map index-only scans need
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    return {"bulk_output_rows_per_s": round(output_count / output_seconds), "bulk_voice_rows_per_s": round(voice_count / max(voice_seconds, 1e-9))}


def database_bytes(database: Database, folder: Path) -> int:
    """What the tables and their indexes take: the SQLite file (its WAL written back first), or PostgreSQL's database."""
    with database.engine.connect() as connection:
        if database.dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return (folder / SQLITE_FILE).stat().st_size
        return int(connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())


def single_inserts(database: Database, count: int = 1000) -> float:
    """Outputs saved one write transaction each, as the service's requests save them."""
    records = OutputRecords()
    made = list(outputs(count, seed=99))
    started = time.perf_counter()
    for metadata in made:
        with database.write() as connection:
            records.insert(connection, [metadata])
    return round(count / (time.perf_counter() - started))


def percentiles(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)
    return {"p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 1)}


def timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    calls[0]()  # warm-up
    latencies = []
    for call in calls:
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return percentiles(latencies)


def output_queries(rng: random.Random, names: list[str], n: int) -> dict[str, list[dict]]:
    """The outputs browser's documented queries, as GET parameters."""
    now = datetime.now(timezone.utc)
    return {
        "outputs_search_two_words": [{"search": " ".join(rng.sample(WORDS, 2)), "page_size": 50} for _ in range(n)],
        "outputs_search_voice_name": [{"search": rng.choice(VOICE_NAMES), "page_size": 50} for _ in range(n)],  # in 1 output of 200
        "outputs_search_rare_words": [{"search": f"item {rng.randrange(10_000, 99_999)}", "page_size": 50} for _ in range(n)],  # a handful
        "outputs_type_sorted_by_duration": [{"type": rng.choice(["vc", "concat"]), "sort": "duration", "page_size": 50} for _ in range(n)],
        "outputs_voice_and_date_range": [{"voice": rng.choice(VOICE_NAMES), "created_after": (now - timedelta(days=rng.randint(10, 60))).isoformat()} for _ in range(n)],
        "outputs_newest_page": [{"page": rng.randint(1, 20), "page_size": 50} for _ in range(n)],
        "outputs_lookup_50_names": [{"names": rng.sample(names, 50)} for _ in range(n)],
    }


def voice_queries(rng: random.Random, n: int) -> dict[str, list[dict]]:
    return {
        "voices_search": [{"search": rng.choice(["narrator", "museum garden", "voice-00042", "take 7", "nothing-matches-this"]), "page_size": 50} for _ in range(n)],
        "voices_folder_tag_sorted": [{"folder": rng.choice(["books", "games/de", "ads/ja/7"]), "tag": [rng.choice(LANGUAGES)], "sort": "usage_count", "order": "desc"} for _ in range(n)],
    }


def as_query(params: dict) -> dict:
    """GET parameters as the query models' fields (`type` and `tag` repeat: `types`, `tags`)."""
    renamed = {"type": "types", "tag": "tags"}
    return {renamed.get(key, key): ([value] if key == "type" else value) for key, value in params.items()}


def in_process(database: Database, names: list[str], n: int) -> dict[str, dict[str, float]]:
    rng = random.Random(1)
    library = OutputLibrary(OutputStore(LocalStorage(Path(tempfile.mkdtemp()))), database, OUTPUT_SETTINGS)
    voices = VoiceLibrary(VoiceStore(LocalStorage(Path(tempfile.mkdtemp()))), database, VOICE_SETTINGS)
    result = {
        kind: timed([lambda p=params: library.list(OutputListQuery(**as_query(p))) for params in queries])
        for kind, queries in output_queries(rng, names, n).items()
    }
    result |= {kind: timed([lambda p=params: voices.page(VoiceListQuery(**as_query(p))) for params in queries]) for kind, queries in voice_queries(rng, n).items()}
    result["voices_folder_tree"] = timed([voices.folders for _ in range(n)])
    result["voices_stats"] = timed([lambda: voices.stats(20) for _ in range(n)])
    return result


def api_replica(work: Path, url: str | None, storage_dir: Path) -> tuple[Callable[[], None], str, float]:
    """The API alone on this database (no runner: listings need none): (stop, base URL, seconds to ready)."""
    port = free_port()
    env = {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(storage_dir), "BENTOML_HOME": str(work / "bentoml"), "CHATTERBOX_MODELS": "original"}
    env |= {"DATABASE_URL": url} if url else {}
    env |= one_service_env(depends={"chatterbox-tts-runner": "http://127.0.0.1:9", "chatterbox-vc-runner": "http://127.0.0.1:9"})
    started = time.perf_counter()
    process = launch(serve_command(port, alone=True), env, work / "api.log")
    wait_ready(process, port, work / "api.log", path="/api/v1/outputs?page_size=1")
    return (lambda: stop(process)), f"http://127.0.0.1:{port}", round(time.perf_counter() - started, 2)


def api_memory(base_url: str) -> int:
    """The API process's resident memory (the process listening on the port, and its children)."""
    port = int(base_url.rsplit(":", 1)[1])
    [pid] = {c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN}
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def over_http(base_url: str, names: list[str], n: int) -> dict[str, dict[str, float]]:
    rng = random.Random(2)
    with httpx.Client(base_url=base_url, timeout=120) as client:
        def get(path: str, params: dict) -> None:
            client.get(path, params=params).raise_for_status()

        result = {kind: timed([lambda p=params: get("/api/v1/outputs", p) for params in queries]) for kind, queries in output_queries(rng, names, n).items()}
        result |= {kind: timed([lambda p=params: get("/api/v1/voices", p) for params in queries]) for kind, queries in voice_queries(rng, n).items()}
        result["voices_folder_tree"] = timed([lambda: get("/api/v1/voices/folders", {}) for _ in range(n)])
        result["voices_stats"] = timed([lambda: get("/api/v1/voices/stats", {}) for _ in range(n)])
    return result


def engine_run(engine: str, args: argparse.Namespace, work: Path, server: PostgresServer | None) -> dict[str, object]:
    report: dict[str, object] = {"engine": engine}
    replicas = {}
    for label, output_count, voice_count in (("small", SMALL, 100), ("full", args.outputs, args.voices)):
        folder = work / f"{engine}-{label}"
        folder.mkdir(parents=True)
        url = server.new_database() if server else None
        database = Database.from_settings(DatabaseSettings(url=url, pool_size=4, connect_timeout_seconds=5), folder / "data")
        upgrade(database)
        fill_report = fill(database, output_count, voice_count)
        if label == "full":
            report |= fill_report
            report["database_mib"] = round(database_bytes(database, folder / "data") / 2**20)
            report["single_transaction_inserts_per_s"] = single_inserts(database)
            names = [m.filename for m in outputs(min(output_count, 20_000))]
            report["in_process"] = in_process(database, names, args.requests)
        database.close()
        stop_api, base_url, ready_seconds = api_replica(folder, url, folder / "data")
        try:
            names = [m.filename for m in outputs(min(output_count, 20_000))]
            queries = over_http(base_url, names, args.requests if label == "full" else 5)
            replicas[label] = {"outputs": output_count, "cold_start_to_ready_s": ready_seconds, "rss_mib": round(api_memory(base_url) / 2**20)}
            if label == "full":
                report["over_http"] = queries
        finally:
            stop_api()
    report["api_replica"] = replicas
    return report


def reindex_run(engine: str, count: int, work: Path, server: PostgresServer | None) -> float:
    """Seconds per 100,000 records to rebuild the outputs from a local store of `count` companions."""
    store_dir = work / "reindex-store"
    if not store_dir.exists():
        (store_dir / "outputs").mkdir(parents=True)
        for metadata in outputs(count, seed=7):
            (store_dir / companion_key(metadata.filename)).write_text(metadata.model_dump_json())
    storage = LocalStorage(store_dir)
    database = Database.from_settings(DatabaseSettings(url=server.new_database() if server else None, pool_size=4, connect_timeout_seconds=5), work / f"reindex-{engine}")
    upgrade(database)
    started = time.perf_counter()
    result = reindex(database, VoiceStore(storage, 16), OutputStore(storage, 16))
    seconds = time.perf_counter() - started
    database.close()
    assert result.outputs == count, result
    return round(seconds * 100_000 / count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=int, default=1_000_000)
    parser.add_argument("--voices", type=int, default=100_000)
    parser.add_argument("--reindex", type=int, default=100_000, help="records in the store reindex rebuilds from")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=50, help="requests per query kind")
    args = parser.parse_args()
    engines = args.engines.split(",")
    server = PostgresServer().start() if "postgresql" in engines else None
    results: list[dict[str, object]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            for engine in engines:
                engine_server = server if engine == "postgresql" else None
                result = engine_run(engine, args, work, engine_server)
                result["reindex_s_per_100k"] = reindex_run(engine, args.reindex, work, engine_server)
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.stop()
    print(json.dumps({"outputs": args.outputs, "voices": args.voices, "reindex_records": args.reindex, "results": results}, indent=2))


if __name__ == "__main__":
    main()
