"""Output records in the database: what the outputs browser lists, filters and sorts, and
what retention picks from, with one indexed query each instead of a walk over every output.

A row keeps the columns queries look at (type, time, duration, size, voice, search text)
and the companion as compact JSON, parsed only for the rows of the page returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, false, func, insert, select, tuple_

from contract.paging import Total
from db.listing import Matching
from db.schema import outputs, storable_text
from db.text_search import TextSearch
from outputs.query import OutputFilter, OutputListQuery
from outputs.store import OutputMetadata

_SORT_COLUMNS = {"created": outputs.c.created, "duration": outputs.c.duration, "size": outputs.c.size, "name": outputs.c.filename}


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def row_values(metadata: OutputMetadata) -> dict[str, Any]:
    """What search looks in: the file name and every text of the parameters (text spoken,
    voice, input files...), casefolded."""
    return {
        "filename": metadata.filename, "type": metadata.type, "created": metadata.created_at.timestamp(), "duration": metadata.duration_seconds,
        "size": metadata.size_bytes, "voice": metadata.voice.casefold() if metadata.voice else None,
        "search_text": "\n".join([metadata.filename, *_texts(metadata.parameters)]).casefold(), "record": metadata.model_dump_json(),
    }


def matching(output_filter: OutputFilter, connection: Connection) -> Matching:
    """The filter as SQL, every search word included (`TextSearch`)."""
    if not all(storable_text(text) for text in (*output_filter.names, output_filter.voice or "", output_filter.search or "")):
        return Matching([false()])  # no row holds a NUL
    found: list[ColumnElement[bool]] = []
    if output_filter.names:
        found.append(outputs.c.filename.in_(sorted(set(output_filter.names))))
    if output_filter.types:
        found.append(outputs.c.type.in_(sorted(set(output_filter.types))))
    if output_filter.voice is not None:
        found.append(outputs.c.voice == output_filter.voice.casefold())
    if output_filter.created_after is not None:
        found.append(outputs.c.created >= output_filter.created_after.timestamp())
    if output_filter.created_before is not None:
        found.append(outputs.c.created < output_filter.created_before.timestamp())
    return TextSearch(outputs, output_filter.search).matching(connection, found)


def _metadata(record: str) -> OutputMetadata:
    return OutputMetadata.model_validate_json(record)


class OutputRecords:
    """The outputs table's queries; each takes the connection of the caller's transaction."""

    def get(self, connection: Connection, filename: str) -> OutputMetadata | None:
        record = connection.scalar(select(outputs.c.record).where(outputs.c.filename == filename))
        return _metadata(record) if record is not None else None

    def get_many(self, connection: Connection, filenames: list[str]) -> dict[str, OutputMetadata]:
        """The outputs among `filenames` (valid names, no NUL), by file name: one query."""
        rows = connection.scalars(select(outputs.c.record).where(outputs.c.filename.in_(filenames))) if filenames else []
        return {metadata.filename: metadata for metadata in map(_metadata, rows)}

    def insert(self, connection: Connection, records: list[OutputMetadata]) -> None:
        if records:
            connection.execute(insert(outputs), [row_values(metadata) for metadata in records])

    def remove(self, connection: Connection, filename: str) -> bool:
        return connection.execute(delete(outputs).where(outputs.c.filename == filename)).rowcount == 1

    def total_bytes(self, connection: Connection) -> int:
        return int(connection.scalar(select(func.coalesce(func.sum(outputs.c.size), 0))) or 0)

    def page(self, connection: Connection, query: OutputListQuery) -> tuple[list[OutputMetadata], Total]:
        """The page and the number matching (up to a cap); ties broken by file name (in the
        order's direction), so pages are stable between requests."""
        where = matching(query, connection)
        order = [key.desc() if query.order == "desc" else key.asc() for key in (_SORT_COLUMNS[query.sort], outputs.c.filename)]
        rows = where.page(connection, outputs.c.filename, order, query, outputs.c.record)
        return [_metadata(row.record) for row in rows], where.total(connection, outputs, query, len(rows))

    def oldest_first(self, connection: Connection, batch: int) -> Iterator[tuple[str, float, int]]:
        """(file name, created, size) of every output, oldest first, read `batch` rows at a
        time by keyset (no offset that grows with the table)."""
        after: tuple[float, str] | None = None
        while True:
            query = select(outputs.c.filename, outputs.c.created, outputs.c.size).order_by(outputs.c.created, outputs.c.filename).limit(batch)
            if after is not None:
                query = query.where(tuple_(outputs.c.created, outputs.c.filename) > after)
            rows = connection.execute(query).all()
            yield from ((row.filename, row.created, row.size) for row in rows)
            if len(rows) < batch:
                return
            after = (rows[-1].created, rows[-1].filename)
