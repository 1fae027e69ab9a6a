"""Serving voice uploads: one voice (create, replace, or metadata only), and many at once
from files or a zip, each file succeeding or failing on its own."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import PurePosixPath

from fastapi import UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.protocol import BulkVoiceResponse, BulkVoiceResult, ErrorDetail
from api.uploads import read_upload
from api.voice_serving import VoiceServing, check_name, voice_json
from contract.formats import INPUT_EXTENSIONS
from voices.archive import ArchiveError, open_zip, read_member, voice_files
from voices.library import utcnow
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.names import NAME_RULE, name_from_filename
from voices.prepared_audio import PreparedAudio, prepare

logger = logging.getLogger(__name__)


def _read_zip_member(zipped: zipfile.ZipFile, member: zipfile.ZipInfo, max_bytes: int) -> bytes:
    try:
        return read_member(zipped, member.filename, max_bytes)
    except ValueError as exc:
        raise APIError(413, f"{exc}; the upload limit is {max_bytes} bytes per file", field="files", error_type="payload_too_large") from None


class VoiceUploads:
    def __init__(self, voices: VoiceServing) -> None:
        self.voices = voices

    async def _read_voice_audio(self, data: bytes, filename: str | None, field: str) -> PreparedAudio:
        return await run_in_threadpool(prepare, await self.voices.decode_reference(data, filename, field))

    async def _store(self, name: str, audio: PreparedAudio, patch: VoiceMetadataPatch, overwrite: bool, field: str) -> tuple[VoiceMetadata, bool]:
        def build(existing: VoiceMetadata | None) -> VoiceMetadata:
            return audio.metadata(name, patch, existing, utcnow())

        metadata, replaced = await self.voices.call(self.voices.library.save, name, build, audio.upload.data, audio.reference_wav, overwrite=overwrite, field=field)
        await self.voices.forget(replaced, keep=metadata)
        logger.info("voice stored", extra={"voice": name, "replaced": replaced is not None, "verdict": metadata.quality.verdict})
        return metadata, replaced is None

    async def upload(self, file: UploadFile | None, name: str, patch: VoiceMetadataPatch, overwrite: bool) -> Response:
        """With a file: create (201) or replace (200, overwrite=true). Without: update the
        metadata of an existing voice (200)."""
        check_name(name, "name")
        if file is None:
            if patch.is_empty:
                raise APIError(422, "send a file to create or replace the voice, or metadata fields to update it", field="file")
            return voice_json(await self.voices.call(self.voices.library.update, name, patch, None))
        if not overwrite and await run_in_threadpool(self.voices.library.exists, name):
            raise APIError(409, f"a voice named {name!r} already exists (names ignore case); pass overwrite=true to replace it", field="name", error_type="conflict")
        audio = await self._read_voice_audio(await read_upload(file, "file", self.voices.settings.limits.max_upload_bytes), file.filename, "file")
        metadata, created = await self._store(name, audio, patch, overwrite, "name")
        return voice_json(metadata, 201 if created else 200, created)

    async def bulk_upload(self, files: list[UploadFile], archive: UploadFile | None, folder: str, tags: list[str], overwrite: bool) -> BulkVoiceResponse:
        """Every file becomes a voice named after it; a zip's subfolders become folders under
        `folder`. Each file succeeds or fails on its own, and only one is in memory at a time."""
        limits = self.voices.settings.limits
        if not files and archive is None:
            raise APIError(422, "send audio files as `files` (repeated) or one zip as `archive`", field="files")
        if len(files) > limits.max_bulk_files:
            raise APIError(413, f"{len(files)} files sent; at most {limits.max_bulk_files} per request", field="files", error_type="payload_too_large")
        results = [
            await self._bulk_one(lambda file=file: read_upload(file, "files", limits.max_upload_bytes), file.filename or "", folder, tags, overwrite)
            for file in files
        ]
        if archive is not None:
            zipped, members = await run_in_threadpool(self._open_bulk_zip, archive)
            for member in members:
                subfolder = "/".join(part for part in (folder, *PurePosixPath(member.filename).parent.parts) if part)
                read = partial(run_in_threadpool, _read_zip_member, zipped, member, limits.max_upload_bytes)
                results.append(await self._bulk_one(read, member.filename, subfolder, tags, overwrite))
        counts = {status: sum(1 for r in results if r.status == status) for status in ("created", "replaced", "failed")}
        return BulkVoiceResponse(results=results, **counts)

    def _open_bulk_zip(self, archive: UploadFile) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
        """The zip and its audio members, after the bomb checks; nothing is extracted yet."""
        limits = self.voices.settings.limits
        self.voices.check_archive_size(archive)
        try:
            zipped = open_zip(archive.file, max_total_bytes=limits.max_archive_bytes, max_entries=limits.max_archive_entries, max_ratio=limits.max_archive_ratio)
        except ArchiveError as exc:
            raise APIError(400, f"archive: {exc}", field="archive") from None
        members = voice_files(zipped)
        if len(members) > limits.max_bulk_files:
            raise APIError(413, f"archive holds {len(members)} files; at most {limits.max_bulk_files} per request", field="archive", error_type="payload_too_large")
        return zipped, members

    async def _bulk_one(self, read: Callable[[], Awaitable[bytes]], filename: str, folder: str, tags: list[str], overwrite: bool) -> BulkVoiceResult:
        name = name_from_filename(filename)
        try:
            if name is None:
                raise APIError(422, f"no voice name can be made from {filename!r}: {NAME_RULE}", field="files")
            if PurePosixPath(filename).suffix.lstrip(".").lower() not in INPUT_EXTENSIONS:
                raise APIError(400, f"not an audio file; send {', '.join(sorted(INPUT_EXTENSIONS))}", field="files")
            patch = VoiceMetadataPatch.model_validate({"folder": folder, "tags": tags})
            audio = await self._read_voice_audio(await read(), PurePosixPath(filename).name, "files")
            metadata, created = await self._store(name, audio, patch, overwrite, "files")
        except APIError as exc:
            return BulkVoiceResult(filename=filename, name=name, status="failed", error=ErrorDetail(type=exc.error_type, message=exc.message, field=exc.field))
        except ValueError as exc:  # a folder made from zip paths that breaks the folder rules
            return BulkVoiceResult(filename=filename, name=name, status="failed", error=ErrorDetail(type="invalid_request_error", message=str(exc), field="archive"))
        return BulkVoiceResult(filename=filename, name=name, status="created" if created else "replaced", voice=metadata)
