"""`search` through the trigram indexes (db/text_search.py) on both engines: the same matches a
plain scan finds, whichever way the query is answered, an index kept in step with every
write, and totals counted up to their caps.

The thresholds that choose between the index and a scan are lowered so a few hundred rows
take each way (at their real values the same happens at hundreds of thousands)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

import db.text_search
from db import Database
from db.schema import outputs as outputs_table
from db.text_search import TextSearch
from outputs.query import OutputListQuery
from outputs.records import OutputRecords, row_values
from outputs.store import OutputMetadata, new_output_name

WORDS = ["museum", "garden", "ticket", "weather", "Straße", "naïve", "50%", "a_b", "x/y", 'say "hi"', "日本語", "e-mail"]
COMMON = "common"


def output(number: int, words: list[str], now: datetime) -> OutputMetadata:
    created = now - timedelta(seconds=number)
    return OutputMetadata(
        filename=new_output_name("tts", "wav", {"n": str(number)}, now=created), type="tts", created_at=created, format="wav", content_type="audio/wav",
        sample_rate=24000, duration_seconds=1.0, size_bytes=100, generation_seconds=0.1, model_source="random", voice=None,
        parameters={"text": " ".join(words) + f" item{number}"},
    )


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db.text_search, "RARE_ROWS", 20)
    monkeypatch.setattr(db.text_search, "SEARCH_COUNT_CAP", 10)
    monkeypatch.setattr(db.text_search, "COUNT_BUDGET_ROWS", 100)


def fill(database: Database, count: int) -> list[OutputMetadata]:
    rng, now = random.Random(5), datetime.now(timezone.utc)
    made = [output(n, [COMMON, *rng.sample(WORDS, 3)], now) for n in range(count)]
    with database.write() as connection:
        OutputRecords().insert(connection, made)
    return made


def found(database: Database, search: str, page_size: int = 500) -> tuple[set[str], int, bool]:
    with database.read() as connection:
        page, total = OutputRecords().page(connection, OutputListQuery(search=search, page_size=page_size))
    return {m.filename for m in page}, total.count, total.exact


def scanned(made: list[OutputMetadata], search: str) -> set[str]:
    words = search.casefold().split()
    return {m.filename for m in made if all(word in row_values(m)["search_text"] for word in words)}


SEARCHES = ["museum", "MUSEUM garden", "item17", "item1", "straße", "STRASSE", "naïve", "50%", "%", "a_b", "_", "x/y", '"hi"', "日本語", "本", "e-mail", "nothing-at-all", "co", COMMON]


def test_search_finds_what_a_scan_finds_whichever_way_it_is_answered(database: Database, small_thresholds: None) -> None:
    made = fill(database, 300)
    ways = set()
    for search in SEARCHES:
        expected = scanned(made, search)
        names, total, exact = found(database, search)
        assert names == expected, search
        assert total == len(expected) if exact else len(expected) >= total >= len(names), search
        with database.read() as connection:
            matching = TextSearch(outputs_table, search).matching(connection, [])
        ways.add("candidates" if len(matching.where) > len(search.split()) else "counted within" if matching.count_within is not None else "many" if matching.more_than else "scan")
    # rare words through the trigram index; common ones counted within the newest rows (SQLite) or known to be past the cap (PostgreSQL)
    assert ways == {"candidates", "counted within" if database.dialect == "sqlite" else "many"}


def test_the_index_follows_every_write(database: Database, small_thresholds: None) -> None:
    made = fill(database, 60)
    records = OutputRecords()
    gone = made[0]
    with database.write() as connection:
        records.remove(connection, gone.filename)
        connection.execute(outputs_table.update().where(outputs_table.c.filename == made[1].filename).values(search_text="renamed zebra"))
    assert found(database, f"item{0}")[0] == set() and found(database, "zebra")[0] == {made[1].filename}
    assert made[1].filename not in found(database, "item1 ")[0]
    if database.dialect == "sqlite":  # FTS5's own check that the index holds exactly the table's text
        with database.write() as connection:
            connection.execute(text("INSERT INTO outputs_search(outputs_search, rank) VALUES ('integrity-check', 1)"))


def test_totals_are_exact_up_to_their_cap_and_at_least_beyond(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db.text_search, "COUNT_CAP", 10)
    monkeypatch.setattr(db.text_search, "SEARCH_COUNT_CAP", 4)
    fill(database, 30)
    with database.read() as connection:
        def total(**query: object) -> tuple[int, bool]:
            page, counted = OutputRecords().page(connection, OutputListQuery(page_size=5, **query))
            return tuple(counted)

        assert total() == (10, False)
        assert total(page=4) == (21, False)  # counted to one past the page asked for: more follow
        assert total(page=6) == (30, True)
        assert total(search=COMMON) == (6, False) and total(search="item17") == (1, True)  # 6: one past the first page, beyond the cap of 4
