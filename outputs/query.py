"""Which outputs a listing asks for and in what order: the models the API validates;
`outputs.records` turns them into SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contract.paging import PageRequest
from outputs.store import OutputType

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


class OutputListQuery(OutputFilter, PageRequest):
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort: OutputSortKey = "created"
    order: Literal["asc", "desc"] = "desc"
