"""HTTP Range requests (RFC 9110 §14) for downloads, so browsers and players can seek.

One range per request: `bytes=first-last`, `bytes=first-` and `bytes=-suffix`. A header we
cannot parse, or several ranges, is ignored and the whole file is sent (as the RFC allows);
a range that starts past the end is a 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiableError(ValueError):
    """The requested range lies outside the file."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    length: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.start + self.length - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to send, or None for the whole file."""
    if header is None or (match := _SINGLE_RANGE.match(header)) is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return ByteRange(max(0, size - suffix), min(suffix, size))
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiableError(header)
    if end < start:
        return None  # syntactically invalid (last < first): ignored
    return ByteRange(start, end - start + 1)
