"""A page of a listing and its total, at costs that do not grow with the table: the page's
keys are read first (an index answers the filter, the order and the offset, so a deep page
skips index entries, not whole records) and only then the page's rows; the total is counted
up to a cap (see `contract.paging`), reading at most cap + 1 matching rows."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Column, ColumnElement, Connection, Row, Table, func, literal, select

from contract.paging import COUNT_CAP, PageRequest, Total


class Matching(NamedTuple):
    """A listing's conditions, and how far its total is counted."""

    where: list[ColumnElement[bool]]
    count_within: ColumnElement[bool] | None = None  # where counting may look; None: anywhere (exact up to the cap)
    count_cap: int = COUNT_CAP
    more_than: int = 0  # rows known to match already: a cap below it needs no count

    def page(self, connection: Connection, key: Column[Any], order_by: list[ColumnElement[Any]], request: PageRequest, *columns: Any) -> list[Row]:
        """The page's rows (`columns` of them), in order: its keys first, then those rows only."""
        ordered = select(key).select_from(key.table).where(*self.where).order_by(*order_by)
        keys = list(connection.scalars(ordered.offset(request.start).limit(request.page_size)))
        rows = {row[0]: row for row in connection.execute(select(key, *columns).where(key.in_(keys)))} if keys else {}
        return [rows[k] for k in keys if k in rows]  # a row deleted between the two reads is left out

    def total(self, connection: Connection, table: Table, request: PageRequest, page_length: int) -> Total:
        """The rows matching, exact up to the cap (or up to one row past the page asked for,
        when that is further: a client paging on sees that more follow), never fewer than
        the rows up to the end of the page read. A page that is not full ends the listing:
        its total needs no count."""
        if 0 < page_length < request.page_size or (page_length == 0 and request.start == 0):
            return Total(request.start + page_length, True)
        cap = max(self.count_cap, request.start + request.page_size + 1)
        if self.more_than >= cap:
            return Total(cap, False)
        matching = select(literal(1)).select_from(table).where(*self.where)
        if self.count_within is not None:
            matching = matching.where(self.count_within)
        counted = connection.scalar(select(func.count()).select_from(matching.limit(cap + 1).subquery())) or 0
        seen = request.start + page_length if page_length else 0  # an empty page past the end says nothing of the rows before it
        return Total(max(min(counted, cap), seen), counted <= cap and self.count_within is None)
