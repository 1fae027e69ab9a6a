"""The storage interface every backend implements.

Keys are relative, slash-separated paths (``voices/alex/voice.wav``). Every key is checked
before a backend sees it, so no request can address anything outside the store, and every
write is atomic: readers see the old object or the new one, never a half-written file.

Objects have a *version* (S3's ETag; a modification stamp locally) that changes on every
write. Conditional writes (`put_if`, `delete_if`) compare it atomically in the backend, so
several API replicas sharing one bucket never silently overwrite each other's updates.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_KEY_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class StorageError(RuntimeError):
    """The backend failed (disk error, S3 unreachable...): a server-side problem."""


class ObjectNotFoundError(KeyError):
    """No object at that key."""


class InvalidKeyError(ValueError):
    """The key could escape the store or is not a plain relative path."""


class PreconditionFailedError(RuntimeError):
    """A conditional write found another version than expected: someone wrote first."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version: str  # the same token `get_versioned` returns and `put_if` compares
    modified: float  # last write, seconds since the epoch


@dataclass(frozen=True)
class TempObject:
    """What an interrupted write left behind: a hidden temp file beside its target (local),
    or a multipart upload never completed nor aborted (S3, where it costs storage)."""

    key: str
    modified: float
    handle: str = ""  # the S3 upload id


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
    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Store the file at `path` (any size: streamed, multipart on S3), atomically."""

    @abstractmethod
    def iter_bytes(self, key: str, chunk_size: int = 1 << 16, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The object (or `length` bytes from `start`: HTTP Range downloads) in chunks, for
        streaming; raises ObjectNotFoundError before the first chunk."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """The whole object and its version; raises ObjectNotFoundError."""

    @abstractmethod
    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/octet-stream") -> str:
        """Store `data` only if the object is still at `version` (None: only if it does not
        exist yet), atomically; returns the new version or raises PreconditionFailedError."""

    @abstractmethod
    def delete_if(self, key: str, version: str) -> None:
        """Remove the object only if it is still at `version`; raises PreconditionFailedError
        (or ObjectNotFoundError when it is already gone)."""

    @abstractmethod
    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under `prefix` (a folder path ending in '/'), with size and version,
        in one listing pass (no request per object)."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        return (info.key for info in self.list_objects(prefix))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFoundError:
            return False
        return True

    def local_path(self, key: str) -> Path | None:
        """The file that holds `key` when the store is a local folder (downloads hand it to
        the web server's file sending); None for a remote store."""
        return None

    def download_url(self, key: str, *, seconds: int, filename: str, content_type: str, disposition: str) -> str | None:
        """A URL that lets anyone holding it read `key` for `seconds`, answered with these
        headers (an S3 presigned GET); None when the store has no such URLs."""
        return None

    @abstractmethod
    def temp_objects(self) -> Iterator[TempObject]:
        """Leftovers of interrupted writes (for the storage checker)."""

    @abstractmethod
    def remove_temp_object(self, temp: TempObject) -> None:
        """Remove one leftover; only the storage checker calls this, with --repair."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError when the backend cannot be reached (used by /health)."""
