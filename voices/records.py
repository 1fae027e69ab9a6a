"""Voice records in the database: the rows every read, listing and conditional write of the
library goes through, so every replica sees a voice the moment another creates it.

A row is the record as JSON plus the columns queries filter and sort on. Writes are
conditional on the row version read, so two requests or replicas racing on one voice never
drop each other's change: the loser's UPDATE matches no row and it retries from a fresh
read. A version is drawn at random on every write, not counted up: a voice deleted and
created again under its name must not match a version read from its earlier life (a
counter would restart at 1, and a stale writer would overwrite the new voice and orphan
its audio). Use counts are columns updated in place
(`usage_count = usage_count + 1`): a use never conflicts with an edit, and never bumps the
version an edit compares.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Row, case, delete, false, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from contract.paging import Total
from db.listing import Matching
from db.schema import moment, storable_text, voices
from db.text_search import TextSearch
from storage.base import PreconditionFailedError
from voices.metadata import USAGE_FIELDS, VoiceMetadata
from voices.query import FolderUsage, VoiceFilter, VoiceListQuery, VoiceStats, VoiceUsage


class VoiceExistsError(RuntimeError):
    """Another voice already has this name (ignoring case)."""


class StoredVoice(NamedTuple):
    metadata: VoiceMetadata  # with its current use counts
    version: int  # the row version, for conditional writes


def new_version() -> int:
    return secrets.randbits(62)


def _seconds(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _moment(seconds: float | None) -> datetime | None:
    return moment(seconds) if seconds is not None else None


def tags_text(tags: Iterable[str]) -> str:
    return "\t" + "\t".join(tags) + "\t"


def row_values(metadata: VoiceMetadata) -> dict[str, Any]:
    """The columns of a record (not its use counts, nor its version: writers set those)."""
    return {
        "key": metadata.name.casefold(), "name": metadata.name, "folder": metadata.folder, "tags": tags_text(metadata.tags),
        "search_text": metadata.search_text, "created_at": metadata.created_at.timestamp(), "updated_at": metadata.updated_at.timestamp(),
        "duration": metadata.audio.duration_seconds, "etag": metadata.etag,
        "record": metadata.model_dump_json(exclude=set(USAGE_FIELDS)),
    }


def new_row(metadata: VoiceMetadata) -> dict[str, Any]:
    """Every column of a voice written for the first time (created, or rebuilt from storage):
    its use counts as the record has them, and a new version."""
    return row_values(metadata) | {
        "usage_count": metadata.usage_count, "last_used_at": _seconds(metadata.last_used_at), "stored_usage_count": metadata.usage_count, "row_version": new_version(),
    }


_RECORD = (voices.c.record, voices.c.usage_count, voices.c.last_used_at)


def _metadata(row: Row) -> VoiceMetadata:
    """The record with its live use counts."""
    metadata = VoiceMetadata.model_validate_json(row.record)
    return metadata.model_copy(update={"usage_count": row.usage_count, "last_used_at": _moment(row.last_used_at)})


def matching(voice_filter: VoiceFilter, connection: Connection) -> Matching:
    """The filter as SQL: names ignore case, a folder includes its subfolders unless told
    not to, tags match whole, every search word must appear (`TextSearch`)."""
    if not storable_text(voice_filter.search or ""):
        return Matching([false()])  # no row holds a NUL
    found: list[ColumnElement[bool]] = []
    if voice_filter.names:
        found.append(voices.c.key.in_(sorted({name.casefold() for name in voice_filter.names})))
    if voice_filter.folder is not None:
        folder = voice_filter.folder
        if not voice_filter.include_subfolders:
            found.append(voices.c.folder == folder)
        elif folder:  # the folder, or any path under it: one index range ("/" + 1 is "0"), less the folders named like it ("books-x")
            found += [voices.c.folder >= folder, voices.c.folder < folder + "0", or_(voices.c.folder == folder, voices.c.folder >= folder + "/")]
    found += [voices.c.tags.contains(tags_text([tag]), autoescape=True) for tag in voice_filter.tags]
    return TextSearch(voices, voice_filter.search).matching(connection, found)


_SORT_COLUMNS = {
    "name": voices.c.key,
    "created": voices.c.created_at,
    "updated": voices.c.updated_at,
    "duration": voices.c.duration,
    "usage_count": voices.c.usage_count,
    "last_used": func.coalesce(voices.c.last_used_at, 0.0),
}


class VoiceRecords:
    """The voices table's queries; each takes the connection of the caller's transaction."""

    def get(self, connection: Connection, name: str, for_update: bool = False) -> StoredVoice | None:
        query = select(*_RECORD, voices.c.row_version).where(voices.c.key == name.casefold())
        row = connection.execute(query.with_for_update() if for_update else query).first()
        return StoredVoice(_metadata(row), row.row_version) if row is not None else None

    def insert(self, connection: Connection, metadata: VoiceMetadata) -> StoredVoice:
        """VoiceExistsError when the name is taken (ignoring case)."""
        values = new_row(metadata)
        try:
            with connection.begin_nested():
                connection.execute(insert(voices).values(values))
        except IntegrityError:
            raise VoiceExistsError(metadata.name) from None
        return StoredVoice(metadata, values["row_version"])

    def replace(self, connection: Connection, metadata: VoiceMetadata, version: int) -> StoredVoice:
        """The record (not its use counts, which only uses change), if the row is still at
        `version`; PreconditionFailedError otherwise."""
        written = new_version()
        values = row_values(metadata) | {"row_version": written, "stored_usage_count": metadata.usage_count}
        statement = update(voices).where(voices.c.key == metadata.name.casefold(), voices.c.row_version == version).values(values)
        if connection.execute(statement).rowcount != 1:
            raise PreconditionFailedError(f"voice {metadata.name!r} was written meanwhile")
        return StoredVoice(metadata, written)

    def remove(self, connection: Connection, name: str, version: int | None = None) -> VoiceMetadata | None:
        """Delete the row (only at `version`, when given); the record it held, None if none matched."""
        statement = delete(voices).where(voices.c.key == name.casefold())
        if version is not None:
            statement = statement.where(voices.c.row_version == version)
        row = connection.execute(statement.returning(*_RECORD)).first()
        return _metadata(row) if row is not None else None

    def add_use(self, connection: Connection, name: str, when: datetime) -> bool:
        """One more use, atomically; False when there is no such voice."""
        last = func.coalesce(voices.c.last_used_at, 0.0)
        statement = update(voices).where(voices.c.key == name.casefold()).values(
            usage_count=voices.c.usage_count + 1, last_used_at=case((last > when.timestamp(), last), else_=literal(when.timestamp())),
        )
        return connection.execute(statement).rowcount == 1

    def unsaved_uses(self, connection: Connection, limit: int) -> list[str]:
        """Voices whose use counts changed since their record was last written to storage."""
        query = select(voices.c.name).where(voices.c.usage_count != voices.c.stored_usage_count).order_by(voices.c.key).limit(limit)
        return list(connection.scalars(query))

    def uses_saved(self, connection: Connection, name: str, usage_count: int) -> None:
        connection.execute(update(voices).where(voices.c.key == name.casefold()).values(stored_usage_count=usage_count))

    # --- listings -----------------------------------------------------------------------

    def select(self, connection: Connection, voice_filter: VoiceFilter) -> list[VoiceMetadata]:
        """Every voice the filter matches, by name."""
        query = select(*_RECORD).where(*matching(voice_filter, connection).where).order_by(voices.c.key)
        return [_metadata(row) for row in connection.execute(query)]

    def page(self, connection: Connection, query: VoiceListQuery) -> tuple[list[VoiceMetadata], Total]:
        """The page and the number of voices matching (up to a cap); ties broken by name, so
        pages are stable."""
        where = matching(query, connection)
        column = _SORT_COLUMNS[query.sort]
        rows = where.page(connection, voices.c.key, [column.desc() if query.order == "desc" else column.asc(), voices.c.key], query, *_RECORD)
        return [_metadata(row) for row in rows], where.total(connection, voices, query, len(rows))

    def folder_counts(self, connection: Connection) -> dict[str, int]:
        """Voices directly in each folder that has any."""
        return {folder: count for folder, count in connection.execute(select(voices.c.folder, func.count()).group_by(voices.c.folder))}

    def stats(self, connection: Connection, limit: int) -> VoiceStats:
        used = voices.c.usage_count > 0

        def usage(rows: Sequence[Row]) -> list[VoiceUsage]:
            return [VoiceUsage(name=r.name, folder=r.folder, usage_count=r.usage_count, last_used_at=_moment(r.last_used_at)) for r in rows]

        columns = (voices.c.name, voices.c.folder, voices.c.usage_count, voices.c.last_used_at)
        most_used = connection.execute(select(*columns).where(used).order_by(voices.c.usage_count.desc(), voices.c.key).limit(limit)).all()
        never_used = connection.execute(select(*columns).where(~used).order_by(voices.c.created_at, voices.c.key).limit(limit)).all()
        unused = func.sum(case((used, 0), else_=1))
        per_folder = connection.execute(
            select(voices.c.folder, func.count(), func.sum(voices.c.usage_count), unused).group_by(voices.c.folder)
        ).all()
        folders = sorted((FolderUsage(folder=f, voices=n, uses=int(uses or 0), never_used=int(none or 0)) for f, n, uses, none in per_folder), key=lambda f: f.folder)
        total = sum(f.voices for f in folders)
        never = sum(f.never_used for f in folders)
        return VoiceStats(
            total_voices=total, total_uses=sum(f.uses for f in folders), used_voices=total - never, never_used_voices=never,
            most_used=usage(most_used), never_used=usage(never_used), per_folder=folders,
        )

