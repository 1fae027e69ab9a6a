"""Which outputs a listing returns and in what order: pure functions over index entries."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from storage.outputs import OutputType

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

    @cached_property
    def _words(self) -> tuple[str, ...]:
        return tuple(self.search.casefold().split()) if self.search else ()

    @cached_property
    def _voice(self) -> str | None:
        return self.voice.casefold() if self.voice is not None else None

    def matches(self, entry: OutputEntry) -> bool:
        if self.types and entry.type not in self.types:
            return False
        if self._voice is not None and entry.voice != self._voice:
            return False
        if self.created_after is not None and entry.created < self.created_after.timestamp():
            return False
        if self.created_before is not None and entry.created >= self.created_before.timestamp():
            return False
        for word in self._words:
            if word not in entry.search_text:
                return False
        return True


class OutputListQuery(OutputFilter):
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort: OutputSortKey = "created"
    order: Literal["asc", "desc"] = "desc"


_SORT_KEYS = {
    "created": lambda e: e.created,
    "duration": lambda e: e.duration,
    "size": lambda e: e.size,
    "name": lambda e: e.filename,
}


def sort_and_page(entries: list[OutputEntry], query: OutputListQuery) -> list[OutputEntry]:
    """The requested page; ties broken by file name so pages are stable between requests."""
    ordered = sorted(entries, key=lambda e: e.filename, reverse=query.order == "desc")
    ordered.sort(key=_SORT_KEYS[query.sort], reverse=query.order == "desc")
    start = (query.page - 1) * query.page_size
    return ordered[start : start + query.page_size]
