"""Which outputs a listing returns and in what order: pure functions over index entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from contract.paging import PageRequest
from outputs.store import OutputType

if TYPE_CHECKING:
    from outputs.index import OutputEntry

OutputSortKey = Literal["created", "duration", "size", "name"]
MAX_PAGE_SIZE = 500
MAX_NAMES = 1000


class OutputFilter(BaseModel):
    """Every given condition must hold."""

    search: str | None = Field(None, max_length=200, description="Words that must all appear in the file name or the metadata's text (text spoken, voice, inputs...), case-insensitive.")
    types: list[OutputType] = Field([], description="Only outputs of these types.")
    voice: str | None = Field(None, max_length=200, description="Only outputs made with this voice (case-insensitive).")
    created_after: datetime | None = Field(None, description="Only outputs created at or after this time (ISO 8601; a date means its midnight UTC).")
    created_before: datetime | None = Field(None, description="Only outputs created before this time.")
    names: list[str] = Field([], max_length=MAX_NAMES, description="Only these files (bulk lookup).")

    def select(self, entries: list[OutputEntry]) -> list[OutputEntry]:
        """The entries that match, in the order given: one list comprehension per condition
        (no call per entry), so 100,000 entries filter in milliseconds."""
        if self.types:
            types = set(self.types)
            entries = [e for e in entries if e.type in types]
        if self.voice is not None:
            voice = self.voice.casefold()
            entries = [e for e in entries if e.voice == voice]
        if self.created_after is not None:
            after = self.created_after.timestamp()
            entries = [e for e in entries if e.created >= after]
        if self.created_before is not None:
            before = self.created_before.timestamp()
            entries = [e for e in entries if e.created < before]
        for word in self.search.casefold().split() if self.search else ():
            entries = [e for e in entries if word in e.search_text]
        return entries


class OutputListQuery(OutputFilter, PageRequest):
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort: OutputSortKey = "created"
    order: Literal["asc", "desc"] = "desc"


# Ties broken by file name, so pages are stable between requests.
SORT_KEYS: dict[str, Callable[[OutputEntry], tuple]] = {
    "created": lambda e: (e.created, e.filename),
    "duration": lambda e: (e.duration, e.filename),
    "size": lambda e: (e.size, e.filename),
    "name": lambda e: (e.filename,),
}


def page_of(ascending: list[OutputEntry], query: OutputListQuery) -> list[OutputEntry]:
    """The requested page of entries already sorted ascending by the query's key."""
    if query.order == "asc":
        return query.window(ascending)
    end = len(ascending) - query.start
    return ascending[max(0, end - query.page_size) : max(0, end)][::-1]


def sort_and_page(entries: list[OutputEntry], query: OutputListQuery) -> list[OutputEntry]:
    return page_of(sorted(entries, key=SORT_KEYS[query.sort]), query)
