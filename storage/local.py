"""A folder on local disk: the embedded default.

An object's version is its modification time in nanoseconds plus its size. Every write sets
the new file's time strictly after the previous version's, so a version never comes back
(no ABA), and conditional writes compare and replace under an exclusive `flock`, so API
workers sharing the folder serialise their read-modify-writes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.base import InvalidKeyError, ObjectInfo, ObjectNotFoundError, PreconditionFailedError, Storage, StorageError, TempObject, check_key

LOCK_FILE = ".write.lock"  # hidden: listings skip dot-files


def _version(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"


class LocalStorage(Storage):
    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # belt and braces: check_key already bans '..'
            raise StorageError(f"key {key!r} resolves outside the store")
        return path

    def local_path(self, key: str) -> Path:
        return self._path(key)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        try:
            handle = open(self.root / LOCK_FILE, "a")
        except OSError as exc:
            raise StorageError(f"cannot open the storage lock: {exc}") from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # closing the handle releases the lock

    def _current_version(self, path: Path) -> str | None:
        try:
            return _version(path.stat())
        except FileNotFoundError:
            return None

    def _replace(self, key: str, path: Path, data: bytes | Path) -> str:
        """Write beside the target then rename: a crash leaves at worst a hidden temp file
        that no listing returns, never a truncated object under the real name. Call with
        the write lock held."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                previous_ns = path.stat().st_mtime_ns
            except FileNotFoundError:
                previous_ns = 0
            fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    if isinstance(data, Path):
                        with data.open("rb") as source:
                            shutil.copyfileobj(source, handle, 1 << 20)
                    else:
                        handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                stamp = max(time.time_ns(), previous_ns + 1)
                os.utime(temp_name, ns=(stamp, stamp))
                os.replace(temp_name, path)
            except BaseException:
                Path(temp_name).unlink(missing_ok=True)
                raise
            return _version(path.stat())
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc}") from exc

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        with self._write_lock():
            self._replace(key, path, data)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        target = self._path(key)
        with self._write_lock():
            self._replace(key, target, path)

    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/octet-stream") -> str:
        path = self._path(key)
        with self._write_lock():
            current = self._current_version(path)
            if current != version:
                raise PreconditionFailedError(f"{key} is at version {current}, not {version}")
            return self._replace(key, path, data)

    def get(self, key: str) -> bytes:
        return self.get_versioned(key)[0]

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        path = self._path(key)
        try:
            with path.open("rb") as handle:
                version = _version(os.fstat(handle.fileno()))
                return handle.read(), version
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(key)
        return path.stat().st_size

    def iter_bytes(self, key: str, chunk_size: int = 1 << 16, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        handle.seek(start)

        def chunks() -> Iterator[bytes]:
            left = length
            with handle:
                while left is None or left > 0:
                    block = handle.read(chunk_size if left is None else min(chunk_size, left))
                    if not block:
                        break
                    if left is not None:
                        left -= len(block)
                    yield block

        return chunks()

    def delete(self, key: str) -> None:
        with self._write_lock():
            self._unlink(key)

    def _unlink(self, key: str) -> None:
        """Remove the file and the folders it leaves empty (a deleted voice leaves no trace).
        Call with the write lock held, so no writer is creating a file in those folders."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc
        for folder in path.parents:
            if folder == self.root:
                break
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # not empty: neither are the folders above it
                break

    def delete_if(self, key: str, version: str) -> None:
        path = self._path(key)
        with self._write_lock():
            current = self._current_version(path)
            if current is None:
                raise ObjectNotFoundError(key)
            if current != version:
                raise PreconditionFailedError(f"{key} is at version {current}, not {version}")
            self._unlink(key)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        folder = self.root / prefix
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted while listing
            if path.is_file():
                yield ObjectInfo(path.relative_to(self.root).as_posix(), stat.st_size, _version(stat), stat.st_mtime)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Names only: no stat per file, so listing 200,000 outputs takes a fraction of
        `list_objects`' time (`scripts/db.py reindex` lists outputs with this)."""
        folder = self.root / prefix
        found = []
        for directory, subfolders, files in os.walk(folder):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            base = Path(directory).relative_to(self.root).as_posix()
            found.extend(f"{base}/{name}" for name in files if not name.startswith("."))
        return iter(sorted(found))

    def temp_objects(self) -> Iterator[TempObject]:
        for path in sorted(self.root.rglob(".*.tmp")):
            try:
                yield TempObject(path.relative_to(self.root).as_posix(), path.stat().st_mtime)
            except FileNotFoundError:
                continue  # the write it belonged to just finished

    def remove_temp_object(self, temp: TempObject) -> None:
        path = (self.root / temp.key).resolve()
        if not (path.is_relative_to(self.root) and path.name.startswith(".") and path.name.endswith(".tmp")):
            raise InvalidKeyError(f"{temp.key!r} is not a temp file of this store")
        with self._write_lock():
            path.unlink(missing_ok=True)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"storage folder {self.root} is not writable")
