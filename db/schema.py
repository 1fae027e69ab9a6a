"""The metadata tables, as queries see them (SQLAlchemy Core: rows, not objects; a listing of
a million outputs should cost what SQL costs and nothing more).

These are the tables as the newest migration leaves them; the migrations in `migrations/`
build them and are what a database really gets. `tests/test_database.py` checks the two
agree, so neither can drift.

Every column a listing filters or sorts on is a column of its own with an index; the whole
record the API returns is kept beside them as JSON text (`record`), parsed only for the
rows of the page being returned. Times are POSIX seconds (floats sort and compare the same
in every dialect); text that `search` looks in is stored casefolded, with a trigram index
beside it that SQLAlchemy has no type for (`db/text_search.py`, built by migration 0005).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeEngine

metadata = MetaData()


TEXT_SEARCH_INDEXES = ("outputs_search", "voices_search")


def described_here(name: str | None, _type: str, _parents: object) -> bool:
    """Alembic's `include_name`: whether a database object is one these tables describe (the
    text search indexes are not: FTS5 tables and their shadow tables on SQLite, GIN indexes
    on PostgreSQL)."""
    return not (name or "").startswith(TEXT_SEARCH_INDEXES)


def moment(seconds: float) -> datetime:
    """A time column's POSIX seconds as the aware datetime the records carry."""
    return datetime.fromtimestamp(seconds, timezone.utc)


def storable_text(value: str) -> bool:
    """PostgreSQL's text cannot hold NUL, so no row holds one, and a query for one must not
    reach the server (it would fail, not match nothing)."""
    return "\x00" not in value


def ordered_text(length: int) -> TypeEngine[str]:
    """Text that sorts by code point on every engine, as Python sorts it: SQLite's default;
    PostgreSQL's "C" collation (its default follows the server's locale)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


voices = Table(
    "voices", metadata,
    Column("key", ordered_text(200), primary_key=True),  # the casefolded name: names are unique ignoring case
    Column("name", ordered_text(200), nullable=False),
    Column("folder", ordered_text(500), nullable=False),
    Column("tags", Text, nullable=False),  # "\t" + "\t".join(tags) + "\t": a tag matches as "\t<tag>\t"
    Column("search_text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("duration", Float, nullable=False),
    Column("usage_count", Integer, nullable=False),
    Column("last_used_at", Float),
    Column("stored_usage_count", Integer, nullable=False),  # the usage count the record in storage holds
    Column("row_version", BigInteger, nullable=False),  # drawn anew on every write of the record (never reused, even by a voice deleted and created again): conditional updates compare it
    Column("etag", String(40), nullable=False),
    Column("record", Text, nullable=False),  # VoiceMetadata as JSON, its usage fields as of the last record write
    Index("voices_folder", "folder"),
    Index("voices_created", "created_at"),
    Index("voices_updated", "updated_at"),
    Index("voices_duration", "duration"),
    Index("voices_usage", "usage_count"),
    Index("voices_last_used", "last_used_at"),
    Index("voices_folder_usage", "folder", "usage_count"),  # per-folder stats from the index alone
    # folder and tag filters counted, sorted and paged from the index alone, whatever the sort
    Index("voices_folder_listing", "folder", "tags", "key", "usage_count", "last_used_at", "created_at", "updated_at", "duration"),
)

outputs = Table(
    "outputs", metadata,
    Column("filename", ordered_text(300), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("duration", Float, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("voice", String(200)),  # casefolded
    Column("search_text", Text, nullable=False),
    Column("record", Text, nullable=False),  # OutputMetadata as compact JSON (the companion's content)
    Index("outputs_created", "created", "filename"),
    Index("outputs_duration", "duration", "filename"),
    Index("outputs_size", "size", "filename"),
    Index("outputs_voice", "voice", "created"),
    Index("outputs_type", "type", "created"),  # a type filter read in the order of each sort
    Index("outputs_type_duration", "type", "duration", "filename"),
    Index("outputs_type_size", "type", "size", "filename"),
    Index("outputs_type_name", "type", "filename"),
)

idempotency = Table(
    "idempotency", metadata,
    Column("key", String(64), primary_key=True),  # sha256 of (client, route, Idempotency-Key): no client text in the key
    Column("token", String(32), nullable=False),  # the claimant's: completing or releasing is conditional on it
    Column("fingerprint", String(64), nullable=False),  # method, path and body shape of the first request
    Column("state", String(8), nullable=False),  # pending | done
    Column("created_at", Float, nullable=False),
    Column("answer", Text),  # the kept answer as JSON, once done
    Index("idempotency_created", "created_at"),
)

rate_buckets = Table(
    "rate_buckets", metadata,
    Column("key", String(100), primary_key=True),  # "<limit>:<client>" (an API key's hash or an address)
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("granted", Boolean, nullable=False),  # whether the last take found a token
    Index("rate_buckets_updated", "updated_at"),
)

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),  # the shared work it guards ("output-retention")
    Column("holder", String(32), nullable=False),  # the replica doing it (a process's random id)
    Column("expires_at", Float, nullable=False),  # POSIX seconds; then another replica may take it
)

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(16), nullable=False),  # concat
    Column("status", String(16), nullable=False),  # queued | running | succeeded | failed | cancelled
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("heartbeat_at", Float),  # the running replica's last sign of life
    Column("worker", String(32)),  # the replica running it (a process's random id)
    Column("attempts", Integer, nullable=False),  # replicas that started it: more than 1 after a takeover
    Column("cancel_requested", Boolean, nullable=False),
    Column("progress", Text, nullable=False),  # JobProgress as JSON
    Column("payload", Text, nullable=False),  # what the work needs, as JSON: any replica can run it
    Column("result_filename", String(300)),
    Column("error", Text),  # JobError as JSON
    Index("jobs_status", "status", "created_at"),
)
