"""Two API replicas sharing one store (both backends): they converge, never lose an update,
and add up each other's usage counts. Each replica is a `VoiceLibrary`, as the service builds it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from api.uploads import decode_upload
from config import VoiceSettings
from contract.voice_layout import SNAPSHOT_KEY
from harness.testdata import read_testdata
from storage import Storage
from storage.local import LocalStorage
from voices.index import VoiceIndex
from voices.library import StaleVoiceError, VoiceLibrary, VoiceNotFoundError
from voices.metadata import VoiceMetadataPatch
from voices.prepared_audio import prepare
from voices.query import VoiceFilter
from voices.store import StoredVoice, VoiceStore

SETTINGS = VoiceSettings(index_refresh_seconds=0, usage_flush_seconds=60, snapshot_seconds=0, read_workers=4)


def replica(storage: Storage) -> VoiceLibrary:
    library = VoiceLibrary(VoiceStore(storage, SETTINGS.read_workers), SETTINGS)
    library.sync()
    return library


def create(library: VoiceLibrary, name: str, **patch) -> None:
    audio = prepare(decode_upload(read_testdata("voice_alex.wav"), "a.wav", "file", sample_rate=24_000, min_seconds=1, max_seconds=300))
    build = lambda existing: audio.metadata(name, VoiceMetadataPatch(**patch), existing, datetime.now(timezone.utc))  # noqa: E731
    library.save(name, build, audio.upload.data, audio.reference_wav, overwrite=False)


def names(library: VoiceLibrary) -> list[str]:
    return sorted(voice.name for voice in library.select(VoiceFilter()))


def test_replicas_converge_on_sync(storage: Storage) -> None:
    a, b = replica(storage), replica(storage)
    create(a, "Shared", tags=["x"])
    assert b.get("shared").tags == ["x"]  # an index miss falls through to storage
    create(a, "Listed")
    assert names(b) == ["Shared"]
    report = b.sync()
    assert names(b) == ["Listed", "Shared"] and report.fetched == 1
    assert b.sync().fetched == 0  # nothing changed: a listing, no GETs
    a.update("listed", VoiceMetadataPatch(description="changed by a"), None)
    a.delete("shared")
    b.sync()
    assert names(b) == ["Listed"] and b.get("listed").description == "changed by a"
    with pytest.raises(VoiceNotFoundError):
        b.get("shared")


def test_stale_etag_from_another_replica_is_refused(storage: Storage) -> None:
    a, b = replica(storage), replica(storage)
    create(a, "Guarded")
    etag = b.get("guarded").etag
    a.update("guarded", VoiceMetadataPatch(description="first"), etag)
    with pytest.raises(StaleVoiceError):
        b.update("guarded", VoiceMetadataPatch(description="second"), etag)
    assert replica(storage).get("guarded").description == "first"


def test_concurrent_updates_on_two_replicas_lose_nothing(tmp_path) -> None:
    """On the local backend, whose compare-and-swap is ours; on S3 it is the store's (AWS,
    MinIO and R2 make conditional PUTs atomic; moto's server does not, so racing it here
    would test moto)."""
    storage = LocalStorage(tmp_path)
    a, b = replica(storage), replica(storage)
    create(a, "Busy")

    def tagger(library: VoiceLibrary, prefix: str) -> None:
        for i in range(6):
            library.update("busy", VoiceMetadataPatch(), None)  # interleave plain writes too
            library.store.update("busy", lambda m, tag=f"{prefix}{i}": m.model_copy(update={"tags": [*m.tags, tag]}))

    threads = [threading.Thread(target=tagger, args=(library, prefix)) for library, prefix in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(replica(storage).get("busy").tags) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])


def test_usage_from_every_replica_adds_up(storage: Storage) -> None:
    a, b = replica(storage), replica(storage)
    create(a, "Popular")
    for _ in range(3):
        a.record_use("popular")
    b.record_use("POPULAR")
    assert a.get("popular").usage_count == 3  # visible at once on the replica that used it
    assert a.flush_usage() == 1 and b.flush_usage() == 1
    stored = replica(storage).get("popular")
    assert stored.usage_count == 4 and stored.last_used_at is not None
    a.update("popular", VoiceMetadataPatch(name="Renamed"), None)  # usage follows a rename
    a.record_use("renamed")
    a.flush_usage()
    assert replica(storage).get("renamed").usage_count == 5


def test_a_sync_never_undoes_a_write_made_while_it_ran(storage: Storage) -> None:
    library = replica(storage)
    create(library, "Old")
    index = VoiceIndex()
    stored = library.store.read("old")
    started = time.monotonic()
    listed = {"old": stored.version}  # what a slow sync listed before the write below
    index.put(StoredVoice(stored.metadata.model_copy(update={"description": "newer"}), "v-newer"))
    index.put(StoredVoice(stored.metadata.model_copy(update={"name": "Fresh"}), "v-fresh"))
    index.apply_sync(started, listed, [stored])
    assert index.get("old").metadata.description == "newer"  # the sync's older copy lost
    assert index.get("fresh") is not None  # not in the old listing, but written after it
    index.remove("old")
    index.apply_sync(started, listed, [stored])
    assert index.get("old") is None  # deleted here after the listing: not resurrected


def test_cold_start_reads_the_snapshot_plus_what_changed_since(storage: Storage) -> None:
    a = replica(storage)
    for name in ("One", "Two", "Three"):
        create(a, name)
    assert a.save_snapshot() and not a.save_snapshot()  # written once; unchanged since
    cold = VoiceLibrary(VoiceStore(storage), SETTINGS).sync()
    assert (cold.entries, cold.from_snapshot, cold.fetched) == (3, 3, 0)

    a.update("two", VoiceMetadataPatch(description="after the snapshot"), None)
    a.delete("three")
    create(a, "Four")
    b = VoiceLibrary(VoiceStore(storage), SETTINGS)
    report = b.sync()
    assert (report.entries, report.from_snapshot, report.fetched) == (3, 1, 2)
    assert names(b) == ["Four", "One", "Two"] and b.get("two").description == "after the snapshot"

    storage.put(SNAPSHOT_KEY, b"not gzip")
    assert VoiceLibrary(VoiceStore(storage), SETTINGS).sync().fetched == 3  # a broken snapshot is only a slower start
