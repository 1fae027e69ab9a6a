"""Generated audio files and their JSON companions.

Names follow ``{type}_{timestamp}_{params}.{ext}``: the timestamp is UTC to the millisecond
plus a suffix of a per-process counter and random bits, so two requests in the same
millisecond never collide, and the params
part is a short filename-safe summary. The companion ``.json`` carries everything needed to
understand or reproduce the file (all request parameters, seed, model source, timings).
The companion is the output's record in storage: the database's row is built from it (and
rebuilt from it by `scripts/db.py reindex`), and deleting an output deletes both.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from storage.base import ObjectNotFoundError, Storage
from storage.bulk import read_many

OUTPUTS_PREFIX = "outputs/"
OutputType = Literal["tts", "vc", "concat"]
OUTPUT_NAME = re.compile(r"^(tts|vc|concat)_\d{8}-\d{6}-\d{3}-[0-9a-f]{12}(_[A-Za-z0-9.\-_]+)?\.(wav|mp3|flac|ogg|aac|pcm)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9.\-]+")
_DOTS = re.compile(r"\.{2,}")
_SEQUENCE = itertools.count()


class OutputMetadata(BaseModel):
    """The JSON companion of one output (schema_version bumps on incompatible change)."""

    schema_version: int = 1
    filename: str
    type: OutputType
    created_at: datetime
    format: str
    content_type: str
    sample_rate: int
    duration_seconds: float
    size_bytes: int
    generation_seconds: float
    model_source: str
    voice: str | None
    parameters: dict[str, Any]


def _param_summary(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        safe = _DOTS.sub(".", _UNSAFE.sub("-", text)).strip(".-")[:32]
        parts.append(f"{key}-{safe}")
    return "_".join(parts)[:120].rstrip("_-")


def new_output_name(kind: OutputType, extension: str, summary: dict[str, Any], now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    # A per-process counter makes names unique within a replica; random bits separate replicas.
    suffix = f"{secrets.token_hex(4)}{next(_SEQUENCE) % 0x10000:04x}"
    stamp = f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}-{suffix}"
    params = _param_summary(summary)
    return f"{kind}_{stamp}{'_' + params if params else ''}.{extension}"


def is_output_name(filename: str) -> bool:
    return bool(OUTPUT_NAME.match(filename))


def companion_key(filename: str) -> str:
    return OUTPUTS_PREFIX + filename.rsplit(".", 1)[0] + ".json"


class OutputStore:
    def __init__(self, storage: Storage, read_workers: int = 16) -> None:
        self.storage = storage
        self.read_workers = read_workers

    def _save(self, write_audio: Callable[[str], None], metadata: OutputMetadata) -> None:
        """Write the audio, then its companion; if the companion fails, remove the audio so a
        failed request leaves nothing behind."""
        audio_key = OUTPUTS_PREFIX + metadata.filename
        write_audio(audio_key)
        try:
            self.storage.put(companion_key(metadata.filename), metadata.model_dump_json(indent=2).encode(), "application/json")
        except BaseException:
            self.storage.delete(audio_key)
            raise

    def save(self, audio: bytes, metadata: OutputMetadata) -> None:
        self._save(lambda key: self.storage.put(key, audio, metadata.content_type), metadata)

    def save_file(self, path: Path, metadata: OutputMetadata) -> None:
        """As `save`, streaming a file of any size (a long concatenation)."""
        self._save(lambda key: self.storage.put_file(key, path, metadata.content_type), metadata)

    def metadata(self, filename: str) -> OutputMetadata:
        """ObjectNotFoundError when there is no such output."""
        if not is_output_name(filename):
            raise ObjectNotFoundError(filename)
        return OutputMetadata.model_validate_json(self.storage.get(companion_key(filename)))

    def delete(self, filename: str) -> None:
        """Audio first: an interruption leaves a companion whose audio is gone, which the
        index still lists and the next delete or retention pass removes; the other order could
        leave audio no listing ever finds again."""
        self.storage.delete(self.audio_key(filename))
        self.storage.delete(companion_key(filename))

    def list_companions(self) -> Iterator[str]:
        """Every companion key, from one listing of the outputs prefix."""
        return (key for key in self.storage.list_keys(OUTPUTS_PREFIX) if key.endswith(".json"))

    def read_many(self, companion_keys: Iterable[str]) -> list[OutputMetadata]:
        return read_many(self.storage, companion_keys, self.read_workers, lambda data, _: OutputMetadata.model_validate_json(data))

    def audio_key(self, filename: str) -> str:
        if not is_output_name(filename):
            raise ObjectNotFoundError(filename)
        return OUTPUTS_PREFIX + filename
