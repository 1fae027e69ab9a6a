"""The storage interface every backend implements.

Keys are relative, slash-separated paths (``voices/alex/voice.wav``). Every key is checked
before a backend sees it, so no request can address anything outside the store, and every
write is atomic: readers see the old object or the new one, never a half-written file.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

_KEY_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class StorageError(RuntimeError):
    """The backend failed (disk error, S3 unreachable...): a server-side problem."""


class ObjectNotFoundError(KeyError):
    """No object at that key."""


class InvalidKeyError(ValueError):
    """The key could escape the store or is not a plain relative path."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if len(key) > 512 or not all(_KEY_PART.match(part) and part not in (".", "..") for part in parts):
        raise InvalidKeyError(f"invalid storage key {key!r}")
    return key


class Storage(ABC):
    backend: str

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` at `key` atomically, replacing any previous object."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The whole object; raises ObjectNotFoundError."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes; raises ObjectNotFoundError."""

    @abstractmethod
    def iter_bytes(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """The object in chunks, for streaming downloads; raises ObjectNotFoundError before
        the first chunk."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix` (a folder path ending in '/')."""

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFoundError:
            return False
        return True

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError when the backend cannot be reached (used by /health)."""
