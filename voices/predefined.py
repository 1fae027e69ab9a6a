"""A read-only folder of audio files used as voices by file name: a volume mounted into
the container, shared by every replica without uploading anything.

Its listing is kept and walked again only when a folder in it changed: one stat per folder,
not a walk of every file, for each request that looks a voice up.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract.formats import INPUT_EXTENSIONS


@dataclass(frozen=True)
class _Listing:
    files: dict[str, Path]  # relative POSIX path -> file
    folders: dict[str, int]  # every folder walked -> its mtime: a file added or removed changes its folder's


class PredefinedVoiceFolder:
    """Blocking (file system): call from the thread pool."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._listing: _Listing | None = None
        self._lock = threading.Lock()

    def _walk(self) -> _Listing:
        files: dict[str, Path] = {}
        folders: dict[str, int] = {}
        assert self.folder is not None
        for path, subfolders, names in os.walk(self.folder):
            folders[path] = os.stat(path).st_mtime_ns
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            for name in names:
                file = Path(path) / name
                if file.suffix.lower().lstrip(".") in INPUT_EXTENSIONS and not name.startswith(".") and file.is_file():
                    files[file.relative_to(self.folder).as_posix()] = file
        return _Listing(dict(sorted(files.items())), folders)

    @staticmethod
    def _changed(listing: _Listing) -> bool:
        try:
            return any(os.stat(path).st_mtime_ns != mtime for path, mtime in listing.folders.items())
        except OSError:
            return True

    def files(self) -> dict[str, Path]:
        """Relative POSIX path (`narrators/bob.mp3`) -> file, for every audio file."""
        if self.folder is None or not self.folder.is_dir():
            return {}
        with self._lock:
            if self._listing is None or self._changed(self._listing):
                self._listing = self._walk()
            return self._listing.files

    def first(self, matches: Callable[[str], bool]) -> tuple[str, Path] | None:
        """The first file (in path order) whose lower-cased relative path `matches`."""
        return next(((relative, path) for relative, path in self.files().items() if matches(relative.lower())), None)
