"""The metadata database on its own: migrations build exactly the tables the code queries,
`scripts/db.py` migrates and rebuilds from storage (a store written before the database
existed), and a database that goes away and comes back is survived without a restart.
Shared rate-limit buckets and idempotency claims hold under racing replicas. On SQLite and
on PostgreSQL (the `database` fixture's two engines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import update

from config import DatabaseSettings
from db import Database, DatabaseUnavailableError
from db.idempotency import IdempotencyStore, StoredAnswer
from db.leases import Lease
from db.migrate import current_revision, head_revision, upgrade
from db.rate_buckets import DatabaseBuckets
from db.schema import described_here, leases, metadata
from harness.postgres import PostgresServer
from harness.processes import ROOT
from harness.testdata import TESTDATA
from maintenance.reindex import reindex
from outputs.query import OutputListQuery
from outputs.records import OutputRecords
from outputs.store import OutputStore, companion_key
from storage.local import LocalStorage
from voices.query import VoiceFilter, VoiceListQuery
from voices.records import VoiceRecords
from voices.store import VoiceStore


def test_migrations_build_exactly_the_tables_the_code_queries(database: Database) -> None:
    assert current_revision(database) == head_revision()
    with database.read() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"include_name": described_here}), metadata)
    assert differences == [], "db/schema.py and db/migrations disagree: add a migration (scripts/db.py revision)"


def unpack(zip_path: Path, folder: Path) -> LocalStorage:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return LocalStorage(folder)


def test_reindex_rebuilds_a_store_written_before_the_database(database: Database, tmp_path) -> None:
    storage = unpack(TESTDATA / "pre-database-store.zip", tmp_path / "store")
    report = reindex(database, VoiceStore(storage, 2), OutputStore(storage, 2))
    assert (report.voices, report.outputs, report.skipped) == (2, 2, 0)
    with database.read() as connection:
        voices = VoiceRecords().select(connection, VoiceFilter())
        page, total = VoiceRecords().page(connection, VoiceListQuery(folder="books", sort="usage_count", order="desc"))
        outputs, output_total = OutputRecords().page(connection, OutputListQuery(voice="narrator-one"))
    records = {json.loads(storage.get(f"voice-records/{v.name.casefold()}.json"))["name"]: v for v in voices}
    assert sorted(records) == ["Narrator-One", "news_two"]
    narrator = records["Narrator-One"]
    assert (narrator.usage_count, narrator.folder, narrator.tags) == (3, "books/fiction", ["calm", "en"]) and [v.name for v in page] == ["Narrator-One"] and total == (1, True)
    assert storage.exists(narrator.reference_key)  # the rows point at the audio that is there
    assert output_total == (1, True) and outputs[0].parameters["text"] == "Once upon a time."
    storage.delete(companion_key(outputs[0].filename))  # a record lost from storage...
    storage.put("voice-records/broken.json", b"{not json")  # ...and one that does not parse
    again = reindex(database, VoiceStore(storage, 2), OutputStore(storage, 2))
    assert (again.voices, again.outputs, again.skipped) == (2, 1, 1)  # storage is the truth: the rebuild follows it


def environment(url: str | None, storage_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"} | {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(storage_dir)}
    return env | ({"DATABASE_URL": url} if url else {})


def db_command(*args: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "db.py"), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_operator_commands_migrate_and_reindex(engine: str, request: pytest.FixtureRequest, tmp_path) -> None:
    unpack(TESTDATA / "pre-database-store.zip", tmp_path / "store")
    url = request.getfixturevalue("postgres").new_database() if engine == "postgresql" else None
    env = environment(url, tmp_path / "store")
    assert db_command("current", env=env) == {"revision": None, "head": head_revision()}
    assert db_command("upgrade", env=env) == {"revision": head_revision()}
    assert db_command("reindex", env=env) | {"seconds": 0} == {"voices": 2, "outputs": 2, "skipped": 0, "seconds": 0}
    if engine == "sqlite":  # the default: a hidden file in the storage folder, which listings skip
        assert (tmp_path / "store" / ".chatterbox.sqlite3").is_file()
        assert ".chatterbox.sqlite3" not in {key.rsplit("/", 1)[-1] for key in LocalStorage(tmp_path / "store").list_keys("")}


def test_an_unreachable_database_is_reported_then_recovered(postgres: PostgresServer) -> None:
    server = PostgresServer().start()
    try:
        database = Database.from_settings(_settings(server.new_database()), Path("/nonexistent"))
        upgrade(database)
        server.pause()
        with pytest.raises(DatabaseUnavailableError):
            current_revision(database)
        server.resume()
        assert current_revision(database) == head_revision()  # the pool's next connection works: no restart
        database.close()
    finally:
        server.stop()
    nowhere = Database.from_settings(_settings(postgres.url().rsplit(":", 1)[0] + ":1/none"), Path("/nonexistent"))
    with pytest.raises(DatabaseUnavailableError):
        current_revision(nowhere)


def _settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_size=2, connect_timeout_seconds=2)


def test_a_bad_database_url_is_refused_at_start_with_its_variable_named(tmp_path) -> None:
    env = environment("mysql://somewhere/db", tmp_path)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "db.py"), "current"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DATABASE_URL" in done.stderr and "postgresql://" in done.stderr



def race(workers: int, work) -> list:
    """`work(index)` on `workers` threads released together; their results."""
    start = threading.Barrier(workers)
    results: list = [None] * workers

    def run(index: int) -> None:
        start.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_shared_rate_buckets_grant_exactly_the_burst_to_racing_replicas(database: Database) -> None:
    """Four replicas (each its own bucket object, one table) take 5 tokens each at once: the
    burst of 10 is granted exactly once, and the rest wait about 1 / rate."""
    replicas = [DatabaseBuckets(database, "requests", rate=0.5, burst=10) for _ in range(4)]
    waits = [wait for result in race(4, lambda index: [replicas[index].take("key:k") for _ in range(5)]) for wait in result]
    assert waits.count(0.0) == 10 and all(0 < wait <= 2.0 for wait in waits if wait)
    assert 0 < replicas[0].wait_needed("key:k") <= 2.0 and replicas[0].wait_needed("key:other") == 0.0
    assert DatabaseBuckets(database, "failed-auth", 0.5, 10).take("key:k") == 0.0  # another limit, another bucket
    assert replicas[0].expire() == 0  # still refilling: kept


def test_one_claim_of_an_idempotency_key_wins_a_race(database: Database) -> None:
    stores = [IdempotencyStore(database, timedelta(hours=1)) for _ in range(4)]
    claims = race(4, lambda index: stores[index].claim("k" * 64, "fingerprint"))
    tokens = [token for _, token in claims if token is not None]
    assert len(tokens) == 1 and all(record.state == "pending" for record, _ in claims)
    stores[0].complete("k" * 64, "someone else's token", StoredAnswer(status_code=200, headers=[], body_base64=""))  # no effect
    assert stores[1].claim("k" * 64, "fingerprint")[0].state == "pending"
    stores[0].complete("k" * 64, tokens[0], StoredAnswer(status_code=201, headers=[("etag", '"x"')], body_base64="aGk="))
    record, token = stores[2].claim("k" * 64, "fingerprint")
    assert token is None and record.state == "done" and record.answer is not None and record.answer.body == b"hi"
    stores[3].release("k" * 64, tokens[0])
    assert stores[3].claim("k" * 64, "fingerprint")[1] is not None  # released: the next retry runs


def test_one_replica_holds_a_lease_it_races_for(database: Database) -> None:
    """Four replicas take a lease never taken (the INSERT race), then one whose holder's time
    ran out (the UPDATE race): one wins each, and it renews while the others wait."""
    replicas = [Lease(database, "shared-work", seconds=60) for _ in range(4)]
    first = race(4, lambda index: replicas[index].acquire())
    assert first.count(True) == 1
    holder = first.index(True)
    assert replicas[holder].acquire() and not replicas[(holder + 1) % 4].acquire()
    with database.write() as connection:
        connection.execute(update(leases).values(expires_at=0.0))
    again = race(4, lambda index: replicas[index].acquire())
    assert again.count(True) == 1


def test_the_metadata_benchmark_runs(tmp_path) -> None:
    """`benchmarks/metadata.py` at a tiny scale on SQLite, so it cannot rot (its real run,
    at a million outputs, is recorded in docs/performance.md)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "metadata.py"), "--outputs", "300", "--voices", "30", "--reindex", "50", "--requests", "2", "--engines", "sqlite"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = json.loads(done.stdout)["results"]
    assert result["api_replica"]["full"]["outputs"] == 300 and result["in_process"]["outputs_newest_page"]["p95_ms"] > 0
