"""Two API replicas sharing one database and one store: a voice one writes is read and
listed by the other at once, no update is lost to a race, use counts add up, and the record
copies in storage follow. Each replica is a `VoiceLibrary`, as the service builds it, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest

from api.uploads import decode_upload
from config import VoiceSettings
from contract.voice_layout import record_key
from db import Database
from harness.testdata import read_testdata
from storage import Storage
from storage.base import PreconditionFailedError
from storage.local import LocalStorage
from voices.library import StaleVoiceError, VoiceLibrary, VoiceNotFoundError
from voices.metadata import VoiceMetadataPatch
from voices.prepared_audio import prepare
from voices.query import VoiceFilter, VoiceListQuery
from voices.records import VoiceExistsError
from voices.store import VoiceStore

SETTINGS = VoiceSettings(usage_flush_seconds=60, read_workers=4)


def replica(storage: Storage, database: Database) -> VoiceLibrary:
    return VoiceLibrary(VoiceStore(storage, SETTINGS.read_workers), database, SETTINGS)


def create(library: VoiceLibrary, name: str, overwrite: bool = False, **patch) -> None:
    audio = prepare(decode_upload(read_testdata("voice_alex.wav"), "a.wav", "file", sample_rate=24_000, min_seconds=1, max_seconds=300))
    build = lambda existing: audio.metadata(name, VoiceMetadataPatch(**patch), existing, datetime.now(timezone.utc))  # noqa: E731
    library.save(name, build, audio.upload.data, audio.reference_wav, overwrite=overwrite)


def names(library: VoiceLibrary, **conditions) -> list[str]:
    return [voice.name for voice in library.select(VoiceFilter(**conditions))]


def stored_record(storage: Storage, name: str) -> dict:
    return json.loads(storage.get(record_key(name)))


def test_a_write_on_one_replica_is_read_and_listed_on_the_other_at_once(storage: Storage, database: Database) -> None:
    a, b = replica(storage, database), replica(storage, database)
    create(a, "Shared", tags=["x"])
    assert b.get("SHARED").tags == ["x"] and names(b) == ["Shared"]
    create(b, "Listed", folder="f/g")
    assert names(a, folder="f") == ["Listed"] and names(a, folder="f", include_subfolders=False) == []
    a.update("listed", VoiceMetadataPatch(description="changed by a"), None)
    assert b.get("listed").description == "changed by a" == stored_record(storage, "listed")["description"]
    b.delete("shared")
    with pytest.raises(VoiceNotFoundError):
        a.get("shared")
    assert not storage.exists(record_key("shared")) and not list(storage.list_keys("voices/shared/"))
    with pytest.raises(VoiceExistsError):
        create(b, "LISTED")  # names are unique ignoring case, across replicas


def test_stale_etag_from_another_replica_is_refused(database: Database, tmp_path) -> None:
    storage = LocalStorage(tmp_path / "store")
    a, b = replica(storage, database), replica(storage, database)
    create(a, "Guarded")
    etag = b.get("guarded").etag
    a.update("guarded", VoiceMetadataPatch(description="first"), etag)
    with pytest.raises(StaleVoiceError):
        b.update("guarded", VoiceMetadataPatch(description="second"), etag)
    assert replica(storage, database).get("guarded").description == "first"


def test_concurrent_edits_on_two_replicas_lose_nothing(database: Database, tmp_path) -> None:
    """One replica edits the description, the other the tags, at once: each edit reads the
    record and writes it whole, so only the row version's compare-and-swap keeps the other
    field's latest value. On both engines, and so on S3 too (the database decides)."""
    storage = LocalStorage(tmp_path / "store")
    a, b = replica(storage, database), replica(storage, database)
    create(a, "Busy")
    edits = {"description": [f"text {i}" for i in range(8)], "tags": [[f"tag{i}"] for i in range(8)]}
    start = threading.Barrier(2)

    def editor(library: VoiceLibrary, field: str) -> None:
        start.wait()
        for value in edits[field]:
            library.update("busy", VoiceMetadataPatch(**{field: value}), None)

    threads = [threading.Thread(target=editor, args=(library, field)) for library, field in ((a, "description"), (b, "tags"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = replica(storage, database).get("busy")
    assert (final.description, final.tags) == ("text 7", ["tag7"])
    assert (stored_record(storage, "busy")["description"], stored_record(storage, "busy")["tags"]) == ("text 7", ["tag7"])  # the copy follows the last commit


def test_if_match_races_let_exactly_one_writer_win(database: Database, tmp_path) -> None:
    storage = LocalStorage(tmp_path / "store")
    libraries = [replica(storage, database) for _ in range(4)]
    create(libraries[0], "Contested")
    etag = libraries[0].get("contested").etag
    start = threading.Barrier(len(libraries))
    outcomes: list[str] = []

    def edit(library: VoiceLibrary, index: int) -> None:
        start.wait()
        try:
            library.update("contested", VoiceMetadataPatch(description=f"writer {index}"), etag)
            outcomes.append(f"writer {index}")
        except StaleVoiceError:
            outcomes.append("412")

    threads = [threading.Thread(target=edit, args=(library, index)) for index, library in enumerate(libraries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [outcome for outcome in outcomes if outcome != "412"]
    assert len(outcomes) == 4 and len(winners) == 1
    assert libraries[1].get("contested").description == winners[0] == stored_record(storage, "contested")["description"]


def test_uses_from_every_replica_add_up_and_reach_storage(database: Database, tmp_path) -> None:
    storage = LocalStorage(tmp_path / "store")
    a, b = replica(storage, database), replica(storage, database)
    create(a, "Popular")
    etag = a.get("popular").etag
    threads = [threading.Thread(target=lambda library=library: [library.uses.record("popular") for _ in range(5)]) for library in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    b.uses.record("POPULAR")
    voice = a.get("popular")
    assert voice.usage_count == 11 and voice.last_used_at is not None and voice.etag == etag  # uses never change the ETag
    assert stored_record(storage, "popular")["usage_count"] == 0
    assert b.uses.save() == 1 and a.uses.save() == 0  # copied once, by whichever replica comes first
    assert stored_record(storage, "popular")["usage_count"] == 11
    a.update("popular", VoiceMetadataPatch(name="Renamed"), None)  # uses follow a rename
    a.uses.record("renamed")
    assert b.get("renamed").usage_count == 12 and stored_record(storage, "renamed")["usage_count"] == 11
    assert not storage.exists(record_key("popular"))


def test_listing_sorts_and_pages_in_the_database(database: Database, tmp_path) -> None:
    storage = LocalStorage(tmp_path / "store")
    library = replica(storage, database)
    for name, uses in (("b-voice", 2), ("A-voice", 0), ("c_voice", 2), ("d.voice", 1)):
        create(library, name, tags=["tag", "t_1"] if uses else ["tx1"], description="Some Words" if uses == 2 else "100% sure" if uses else "")
        for _ in range(uses):
            library.uses.record(name)
    page, total = library.page(VoiceListQuery(sort="usage_count", order="desc", page_size=2))
    assert total == (4, True) and [v.name for v in page] == ["b-voice", "c_voice"]  # ties by name, ascending in either order
    page, _ = library.page(VoiceListQuery(sort="usage_count", order="desc", page_size=2, page=2))
    assert [v.name for v in page] == ["d.voice", "A-voice"]
    assert names(library, tags=["tag"]) == ["b-voice", "c_voice", "d.voice"] and names(library, tags=["ta"]) == []  # whole tags only
    assert names(library, tags=["t_1"]) == ["b-voice", "c_voice", "d.voice"]  # LIKE's wildcards are literal: "tx1" is no match
    assert names(library, search="words SOME") == ["b-voice", "c_voice"] and names(library, search="%") == ["d.voice"]
    assert names(library, names=["A-VOICE", "nobody"]) == ["A-voice"]
    stats = library.stats(limit=2)
    assert (stats.total_voices, stats.total_uses, stats.never_used_voices) == (4, 5, 1)
    assert [u.name for u in stats.most_used] == ["b-voice", "c_voice"] and [u.name for u in stats.never_used] == ["A-voice"]
    assert library.folders().total_count == 4


def test_a_write_read_before_a_voice_was_deleted_and_created_again_is_refused(database: Database, tmp_path) -> None:
    """From a race under load: a writer that read a voice, then lost it to a delete and its
    name to a new voice, must not overwrite the new one (a version counted from 1 would match
    again, and the new voice's audio would be left with no record naming it)."""
    storage = LocalStorage(tmp_path / "store")
    a, b = replica(storage, database), replica(storage, database)
    create(a, "Reborn", description="first life")
    with database.read() as connection:
        stale = a.records.get(connection, "reborn")
    assert stale is not None
    b.delete("reborn")
    create(b, "Reborn", description="second life")
    with pytest.raises(PreconditionFailedError), database.write() as connection:
        a.records.replace(connection, stale.metadata.model_copy(update={"description": "stale"}), stale.version)
    assert a.get("reborn").description == "second life"
