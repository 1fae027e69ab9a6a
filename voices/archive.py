"""Backup and restore of the voice library as one zip archive.

Layout: ``voices/<name>/voice.json`` (the record), ``voices/<name>/original.<ext>`` (the
upload as sent) and ``voices/<name>/reference.wav``, then ``manifest.json`` with the size
and SHA-256 of every file. The manifest comes last because the archive is streamed while it
is written (checksums are known only after each file), so an export of thousands of voices
never sits in memory or on disk. Import reads the central directory, checks every size and
checksum before it trusts a byte, and bounds entry count and total size (zip bombs).
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import IO, Literal

from pydantic import BaseModel, ValidationError

from audio.decoding import AudioDecodeError, decode
from contract.voice_layout import audio_keys
from storage.base import ObjectNotFoundError
from voices.metadata import VoiceMetadata
from voices.store import VoiceStore

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = "chatterbox-voice-library"
MANIFEST = "manifest.json"


class ArchivedFile(BaseModel):
    path: str
    size: int
    sha256: str


class ArchivedVoice(BaseModel):
    name: str
    record: ArchivedFile
    original: ArchivedFile
    reference: ArchivedFile


class Manifest(BaseModel):
    format: Literal["chatterbox-voice-library"] = ARCHIVE_FORMAT
    format_version: Literal[1] = 1
    exported_at: datetime
    voices: list[ArchivedVoice]


class ArchiveError(ValueError):
    """The archive as a whole is unusable (not a zip, no manifest, too large)."""


class _ChunkSink:
    """A write-only, non-seekable file for zipfile: it then writes data descriptors, and
    what it wrote can be drained chunk by chunk into the HTTP response."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def _add(archive: zipfile.ZipFile, path: str, data: bytes, compress: bool) -> ArchivedFile:
    archive.writestr(path, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    return ArchivedFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def export_archive(store: VoiceStore, voices: list[VoiceMetadata]) -> Iterator[bytes]:
    """The archive, yielded as it is built (one voice at a time)."""
    sink = _ChunkSink()
    archive = zipfile.ZipFile(sink, "w")
    entries: list[ArchivedVoice] = []
    for voice in voices:
        try:
            original = store.storage.get(voice.original_key)
            reference = store.storage.get(voice.reference_key)
        except ObjectNotFoundError:
            logger.warning("voice vanished during export; left out", extra={"voice": voice.name})
            continue
        folder = f"voices/{voice.name}/"
        extension = voice.original_key.rsplit(".", 1)[-1]
        entries.append(
            ArchivedVoice(
                name=voice.name,
                record=_add(archive, folder + "voice.json", voice.model_dump_json(indent=2).encode(), compress=True),
                original=_add(archive, f"{folder}original.{extension}", original, compress=False),
                reference=_add(archive, folder + "reference.wav", reference, compress=False),
            )
        )
        yield sink.drain()
    manifest = Manifest(exported_at=datetime.now(timezone.utc), voices=entries)
    archive.writestr(MANIFEST, manifest.model_dump_json(indent=2), compress_type=zipfile.ZIP_DEFLATED)
    archive.close()
    yield sink.drain()


@dataclass(frozen=True)
class RestorableVoice:
    """A voice read back from an archive and verified; build its record for this library
    with `metadata_for`."""

    metadata: VoiceMetadata
    original: bytes
    reference: bytes

    def metadata_for(self, name: str) -> VoiceMetadata:
        original_key, reference_key = audio_keys(name, self.metadata.content_hash, self.metadata.original_key.rsplit(".", 1)[-1])
        return self.metadata.model_copy(update={"name": name, "original_key": original_key, "reference_key": reference_key})


def open_zip(handle: IO[bytes], *, max_total_bytes: int, max_entries: int, max_ratio: float) -> zipfile.ZipFile:
    """The zip, once its central directory passed the bomb checks: entry count, total
    expanded size and, per member, the compression ratio (audio barely compresses; a member
    that shrank over `max_ratio` times is a bomb, or silence nobody needs). Members are then
    read one at a time, each bounded by its declared size."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"not a zip archive ({exc})") from None
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise ArchiveError(f"the archive holds {len(infos)} files; at most {max_entries} are accepted")
    if (total := sum(info.file_size for info in infos)) > max_total_bytes:
        raise ArchiveError(f"the archive expands to {total} bytes; at most {max_total_bytes} are accepted")
    for info in infos:
        if info.file_size > max_ratio * max(info.compress_size, 1):
            raise ArchiveError(f"{info.filename} expands {info.file_size} bytes from {info.compress_size}, over {max_ratio:g} times: refused as a zip bomb")
    return archive


def voice_files(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members a bulk upload turns into voices: files, less macOS resource forks and
    hidden files that archivers add."""
    return [
        info for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith("__MACOSX/") and not PurePosixPath(info.filename).name.startswith(".")
    ]


def open_archive(handle: IO[bytes], *, max_total_bytes: int, max_entries: int, max_ratio: float) -> tuple[zipfile.ZipFile, Manifest]:
    archive = open_zip(handle, max_total_bytes=max_total_bytes, max_entries=max_entries, max_ratio=max_ratio)
    try:
        manifest = Manifest.model_validate_json(read_member(archive, MANIFEST, max_total_bytes))
    except KeyError:
        raise ArchiveError(f"no {MANIFEST}: this is not a voice-library export (GET /api/v1/voices/export makes one)") from None
    except ValidationError as exc:
        raise ArchiveError(f"{MANIFEST} is invalid: {exc.errors()[0]['msg']}") from None
    return archive, manifest


def read_member(archive: zipfile.ZipFile, path: str, limit: int) -> bytes:
    """A member's bytes, reading at most `limit` (a lying header cannot make us read more)."""
    try:
        with archive.open(path) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data


def _verified(archive: zipfile.ZipFile, entry: ArchivedFile) -> bytes:
    data = read_member(archive, entry.path, entry.size)
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ValueError(f"{entry.path} does not match its checksum in the manifest (corrupted or edited)")
    return data


def restorable(archive: zipfile.ZipFile, entry: ArchivedVoice, max_seconds: float) -> RestorableVoice:
    """One voice out of the archive, with every check done; ValueError says what is wrong."""
    try:
        record, original, reference = (_verified(archive, file) for file in (entry.record, entry.original, entry.reference))
    except KeyError as exc:
        raise ValueError(f"missing from the archive: {exc.args[0]}") from None
    try:
        metadata = VoiceMetadata.model_validate_json(record)
    except ValidationError as exc:
        raise ValueError(f"{entry.record.path} is not a valid voice record: {exc.errors()[0]['msg']}") from None
    if metadata.name != entry.name:
        raise ValueError(f"{entry.record.path} names {metadata.name!r}, the manifest {entry.name!r}")
    if hashlib.sha256(reference).hexdigest() != metadata.content_hash:
        raise ValueError(f"{entry.reference.path} is not the audio its record describes")
    try:
        decode(reference, max_seconds=max_seconds)
    except AudioDecodeError as exc:
        raise ValueError(f"{entry.reference.path}: {exc}") from None
    return RestorableVoice(metadata, original, reference)
