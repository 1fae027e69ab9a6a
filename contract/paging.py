"""One paging model for every listing (the voice library, the outputs browser): pages of
`page_size` numbered from 1, and one rule for `pages`, the number of pages there are: an
empty listing has one page, with nothing on it (so `page` 1 is always a page that exists).

A listing's `total` is counted exactly up to a cap and no further (`total_exact` says
which): counting every match of a million-row table costs what reading it costs, on every
page, while a reader needs the pages near the one shown. The count always reaches one item
past the page asked for, so while more follow, `pages` is more than `page`; a search of
common words may count fewer rows than that (`db.text_search`), so a client paging through
a listing whose total is not exact goes on while pages come back full."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Self, TypeVar

from pydantic import BaseModel, Field

ItemT = TypeVar("ItemT")
MAX_PAGE = 1_000_000_000  # a page's offset must fit a database's 64-bit integer
COUNT_CAP = 10_000  # a listing's total is exact up to here
SEARCH_COUNT_CAP = 1_000  # ...and up to here with search words: each match counted is a row's text read


class Total(NamedTuple):
    """How many items a listing matches: exactly `count`, or at least `count` when counting
    stopped at its cap."""

    count: int
    exact: bool


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
    total_exact: bool = Field(True, description="False when counting stopped at its cap: `total` (and `pages`) are then the least there are, and more pages follow.")
    page: int
    page_size: int
    pages: int

    @classmethod
    def of(cls, items: list[Any], total: Total, request: PageRequest, **extra: Any) -> Self:
        return cls(
            items=items, total=total.count, total_exact=total.exact, page=request.page, page_size=request.page_size,
            pages=page_count(total.count, request.page_size), **extra,
        )
