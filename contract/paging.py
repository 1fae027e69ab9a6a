"""One paging model for every listing (the voice library, the outputs browser): pages of
`page_size` numbered from 1, and one rule for `pages`, the number of pages there are: an
empty listing has one page, with nothing on it (so `page` 1 is always a page that exists)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self, TypeVar

from pydantic import BaseModel, Field

ItemT = TypeVar("ItemT")
MAX_PAGE = 1_000_000_000  # a page's offset must fit a database's 64-bit integer


def page_count(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


class PageRequest(BaseModel):
    """Which page a listing asks for (each listing bounds `page_size` itself)."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Pages are numbered from 1.")
    page_size: int = Field(50, ge=1)

    @property
    def start(self) -> int:
        """The position of the page's first item in the whole ordered listing."""
        return (self.page - 1) * self.page_size

    def window(self, ordered: Sequence[ItemT]) -> list[ItemT]:
        """The requested page of an ordered listing."""
        return list(ordered[self.start : self.start + self.page_size])


class Paged(BaseModel):
    """A page of a listing; each listing's answer declares `items` (and describes `total`)."""

    items: list[Any]
    total: int
    page: int
    page_size: int
    pages: int

    @classmethod
    def of(cls, items: list[Any], total: int, request: PageRequest, **extra: Any) -> Self:
        return cls(items=items, total=total, page=request.page, page_size=request.page_size, pages=page_count(total, request.page_size), **extra)
