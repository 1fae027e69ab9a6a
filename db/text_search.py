"""Finding the rows whose text holds every search word without reading every row, and
counting them at a cost that does not grow with the table.

`search` matches substrings (part of a name, a number inside a file name), which no B-tree
answers, so each searched column has a trigram index beside it (migration 0005):

- PostgreSQL: pg_trgm's GIN index. Its planner estimates from the column's statistics how
  many rows a pattern matches, and takes the index for rare words and a scan for common
  ones. The keys of the matching rows are fetched first, up to `RARE_ROWS`: when that is
  all of them the page is read from those rows alone (the planner, guessing that words
  common alone are common together, would otherwise read the whole table in order looking
  for words that never meet), and when it is not, the total is past the count's cap.
- SQLite: an FTS5 table with the trigram tokenizer, kept in step by triggers, where a word
  is a phrase of its trigrams (so the index finds exactly the rows holding it). SQLite's
  planner knows nothing of how common a word is, so the query asks the index first, the
  longest words first: the rows holding a word, up to `RARE_ROWS` of them (fetching stops
  there, so asking about a common word is cheap). A word in no more rows than that makes
  those rows the candidates, and only they are read. When every word is common, the
  listing is read in its order and a page fills after few rows; its total is counted among
  the newest `COUNT_BUDGET_ROWS` rows only (a total of "at least" that many), so no search
  reads the whole table to count.

Either way LIKE decides what matches, as it would without the index.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Table, func, literal_column, select, text

from contract.paging import COUNT_CAP, SEARCH_COUNT_CAP
from db.listing import Matching

RARE_ROWS = 2_000  # a word in at most this many rows makes them the candidates
PROBED_WORDS = 4  # the longest few words of a long search are asked about
COUNT_BUDGET_ROWS = 20_000  # a search of common words counts its matches among this many rows at most


def _phrase(word: str) -> str:
    """A word as an FTS5 phrase (a double quote is written twice): its trigrams in a row."""
    return '"' + word.replace('"', '""') + '"'


@dataclass(frozen=True)
class TextSearch:
    """How a listing's `search` (its words, each to be found in the stored casefolded text)
    narrows a listing of `table`."""

    table: Table
    search: str | None

    @property
    def words(self) -> list[str]:
        return (self.search or "").casefold().split()

    @property
    def index_name(self) -> str:
        """The SQLite FTS5 table (PostgreSQL's GIN index has the same name): one of
        `db.schema.TEXT_SEARCH_INDEXES`."""
        return f"{self.table.name}_search"

    def matching(self, connection: Connection, conditions: list[ColumnElement[bool]]) -> Matching:
        """The listing's other `conditions` with the words', and how their total is counted."""
        found = [self.table.c.search_text.contains(word, autoescape=True) for word in self.words]
        if not found:
            return Matching(conditions, None, COUNT_CAP)
        where = [*conditions, *found]
        if connection.dialect.name != "sqlite":
            return self._postgresql(connection, where)
        rowid = literal_column(f"{self.table.name}.rowid")
        candidates = self._rare_word_rows(connection)
        if candidates is not None:
            return Matching([*where, rowid.in_(candidates)], None, SEARCH_COUNT_CAP)
        newest = connection.scalar(select(func.max(rowid)).select_from(self.table)) or 0
        return Matching(where, (rowid > newest - COUNT_BUDGET_ROWS) if newest > COUNT_BUDGET_ROWS else None, SEARCH_COUNT_CAP)

    def _postgresql(self, connection: Connection, where: list[ColumnElement[bool]]) -> Matching:
        """The matching rows' keys first, up to RARE_ROWS + 1, however the planner likes (the
        trigram index for rare words, a scan for common ones). When that is all of them, the
        listing is those rows; when not, there are more than the search count's cap, so its
        total needs no count. Asking first also protects the listing from the planner's
        guess that words common alone are common together."""
        [key] = self.table.primary_key.columns
        keys = list(connection.scalars(select(key).where(*where).limit(RARE_ROWS + 1)))
        if len(keys) <= RARE_ROWS:
            return Matching([*where, key.in_(keys)], None, SEARCH_COUNT_CAP)
        return Matching(where, None, SEARCH_COUNT_CAP, more_than=RARE_ROWS)

    def _rare_word_rows(self, connection: Connection) -> list[int] | None:
        """The rows holding the first of the longest words found in at most RARE_ROWS rows,
        else those holding all of them if that few (common words that seldom meet); None when
        there are more (or no word has three letters: no trigram to look up)."""
        index = self.index_name
        asked = [_phrase(word) for word in sorted({word for word in self.words if len(word) >= 3}, key=len, reverse=True)[:PROBED_WORDS]]
        fetch = text(f"SELECT rowid FROM {index} WHERE {index} MATCH :phrases LIMIT {RARE_ROWS + 1}")
        for phrases in [*asked, " AND ".join(asked)] if len(asked) > 1 else asked:
            rows = list(connection.scalars(fetch, {"phrases": phrases}))
            if len(rows) <= RARE_ROWS:
                return rows
        return None
