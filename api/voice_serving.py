"""Serving logic of the voice-library routes: uploads, listing, edits, deletes, backups.

The library (`voices.library`) knows nothing of HTTP; this module turns requests into its
calls and its exceptions into the API's errors. Blocking work (decoding, analysis, storage)
runs in the thread pool so the event loop stays free for other requests.
"""

from __future__ import annotations

import logging
import math
import mimetypes
import zipfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import PurePosixPath
from typing import Literal

from fastapi import UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.protocol import (
    BulkVoiceResponse,
    BulkVoiceResult,
    DeletedVoices,
    ErrorDetail,
    ImportResponse,
    ImportResult,
    OnConflict,
    VoiceListResponse,
    VoiceResponse,
)
from api.runner_voices import ForgetConditioning, RunnerVoice
from api.uploads import decode_upload, read_upload
from audio.codec import UploadedAudio
from audio.formats import CONTENT_TYPE_BY_EXTENSION, INPUT_EXTENSIONS
from config import Settings
from models.jobs import VoiceReference
from models.voice_references import conditioning_reference, unstored_reference
from storage.base import PreconditionFailedError
from voices.archive import ArchiveError, RestorableVoice, export_archive, open_archive, open_zip, read_member, restorable, voice_files
from voices.library import StaleVoiceError, VoiceLibrary, VoiceNotFoundError, utcnow
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.names import NAME_RULE, is_voice_name, name_from_filename
from voices.prepared_audio import PreparedAudio, prepare
from voices.query import FolderNode, VoiceFilter, VoiceListQuery, VoiceStats, folder_tree, sort_and_page, usage_stats
from voices.store import REFERENCE_SAMPLE_RATE, VoiceExistsError

logger = logging.getLogger(__name__)

def _read_zip_member(zipped: zipfile.ZipFile, member: zipfile.ZipInfo, max_bytes: int) -> bytes:
    try:
        return read_member(zipped, member.filename, max_bytes)
    except ValueError as exc:
        raise APIError(413, f"{exc}; the upload limit is {max_bytes} bytes per file", field="files", error_type="payload_too_large") from None


def voice_json(metadata: VoiceMetadata, status_code: int = 200, created: bool = False) -> JSONResponse:
    body = VoiceResponse(voice=metadata, etag=metadata.etag, created=created)
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers={"ETag": metadata.etag})


class VoiceServing:
    def __init__(self, settings: Settings, library: VoiceLibrary, forget_conditioning: ForgetConditioning) -> None:
        self.settings = settings
        self.library = library
        self.forget_conditioning = forget_conditioning

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def check_name(name: str, field: str) -> None:
        if not is_voice_name(name):
            raise APIError(422, f"{field} {name[:80]!r} is not a valid voice name: {NAME_RULE}", field=field)

    async def _call(self, function: Callable, *args, field: str = "name", **kwargs):
        """Run a library call in the thread pool, mapping its exceptions to API errors."""
        try:
            return await run_in_threadpool(function, *args, **kwargs)
        except VoiceNotFoundError as exc:
            raise APIError(404, f"{field}: no voice named {exc.args[0]!r}; see GET /api/v1/voices, or upload one with POST /api/v1/voice", field=field, error_type="not_found") from None
        except VoiceExistsError as exc:
            raise APIError(409, f"a voice named {exc.args[0]!r} already exists (names ignore case); pick another name or pass overwrite=true", field=field, error_type="conflict") from None
        except StaleVoiceError as exc:
            raise APIError(412, f"{exc}; GET the voice again and retry with its current ETag", field="If-Match", error_type="precondition_failed") from None
        except PreconditionFailedError:
            raise APIError(409, "the voice is being changed by other requests; retry", field=field, error_type="conflict") from None

    async def _forget(self, *records: VoiceMetadata | None, keep: VoiceMetadata | None = None) -> None:
        hashes = sorted({r.content_hash for r in records if r is not None} - ({keep.content_hash} if keep else set()))
        if hashes:
            await self.forget_conditioning(hashes)

    def _check_archive_size(self, archive: UploadFile) -> None:
        limit = self.settings.limits.max_archive_bytes
        if archive.size is not None and archive.size > limit:
            raise APIError(413, f"archive is larger than {limit} bytes", field="archive", error_type="payload_too_large")

    def _check_loaded(self) -> None:
        if not self.library.loaded:
            raise APIError(503, "the voice index is still loading from storage; retry in a moment", error_type="storage_unavailable")

    # --- for generation ---------------------------------------------------------------

    async def runner_voice(self, name: str, field: str) -> tuple[VoiceMetadata, RunnerVoice]:
        """A library voice as jobs carry it: by its hash and reference key, from the index;
        its audio read (from the current record) only if a runner asks for it."""
        self.check_name(name, field)
        metadata = await self._call(self.library.get, name, field=field)
        slim = VoiceReference(content_hash=metadata.content_hash, reference_key=metadata.reference_key)
        return metadata, RunnerVoice(slim, partial(self._reference, name, field))

    async def _reference(self, name: str, field: str) -> VoiceReference:
        metadata, samples = await self._call(self.library.reference, name, field=field)
        return conditioning_reference(samples, metadata.content_hash, metadata.reference_key)

    async def uploaded_voice(self, file: UploadFile, field: str) -> RunnerVoice:
        """An uploaded recording used as a voice once, without adding it to the library."""
        upload = await self._decode_reference(await read_upload(file, field, self.settings.limits.max_upload_bytes), file.filename, field)
        return RunnerVoice.in_memory(unstored_reference(upload.audio.samples))

    # --- upload -----------------------------------------------------------------------

    async def _decode_reference(self, data: bytes, filename: str | None, field: str) -> UploadedAudio:
        """Uploaded bytes decoded to 24 kHz mono and held to the voice-reference limits."""
        limits = self.settings.limits
        return await run_in_threadpool(
            decode_upload, data, filename, field, sample_rate=REFERENCE_SAMPLE_RATE, min_seconds=limits.voice_min_seconds, max_seconds=limits.voice_max_seconds
        )

    async def _read_voice_audio(self, data: bytes, filename: str | None, field: str) -> PreparedAudio:
        return await run_in_threadpool(prepare, await self._decode_reference(data, filename, field))

    async def _store(self, name: str, audio: PreparedAudio, patch: VoiceMetadataPatch, overwrite: bool, field: str) -> tuple[VoiceMetadata, bool]:
        def build(existing: VoiceMetadata | None) -> VoiceMetadata:
            return audio.metadata(name, patch, existing, utcnow())

        metadata, replaced = await self._call(self.library.save, name, build, audio.upload.data, audio.reference_wav, overwrite=overwrite, field=field)
        await self._forget(replaced, keep=metadata)
        logger.info("voice stored", extra={"voice": name, "replaced": replaced is not None, "verdict": metadata.quality.verdict})
        return metadata, replaced is None

    async def upload(self, file: UploadFile | None, name: str, patch: VoiceMetadataPatch, overwrite: bool) -> Response:
        """With a file: create (201) or replace (200, overwrite=true). Without: update the
        metadata of an existing voice (200)."""
        self.check_name(name, "name")
        if file is None:
            if patch.is_empty:
                raise APIError(422, "send a file to create or replace the voice, or metadata fields to update it", field="file")
            return voice_json(await self._call(self.library.update, name, patch, None))
        if not overwrite and await run_in_threadpool(self.library.exists, name):
            raise APIError(409, f"a voice named {name!r} already exists (names ignore case); pass overwrite=true to replace it", field="name", error_type="conflict")
        audio = await self._read_voice_audio(await read_upload(file, "file", self.settings.limits.max_upload_bytes), file.filename, "file")
        metadata, created = await self._store(name, audio, patch, overwrite, "name")
        return voice_json(metadata, 201 if created else 200, created)

    async def bulk_upload(self, files: list[UploadFile], archive: UploadFile | None, folder: str, tags: list[str], overwrite: bool) -> BulkVoiceResponse:
        """Every file becomes a voice named after it; a zip's subfolders become folders under
        `folder`. Each file succeeds or fails on its own, and only one is in memory at a time."""
        limits = self.settings.limits
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
        limits = self.settings.limits
        self._check_archive_size(archive)
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

    # --- reads ------------------------------------------------------------------------

    async def get(self, name: str) -> Response:
        self.check_name(name, "name")
        return voice_json(await self._call(self.library.get, name))

    async def audio(self, name: str, variant: Literal["original", "reference"]) -> Response:
        self.check_name(name, "name")
        metadata, key, data = await self._call(self.library.audio, name, variant)
        extension = key.rsplit(".", 1)[-1]
        filename = f"{metadata.name}.{extension}"
        media_type = CONTENT_TYPE_BY_EXTENSION.get(extension) or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "ETag": metadata.etag})

    # Filtering, sorting and tree-building walk the whole library: thread pool, not event loop.

    def _page(self, query: VoiceListQuery) -> VoiceListResponse:
        matching = self.library.select(query)
        items = sort_and_page(matching, query)
        return VoiceListResponse(items=items, total=len(matching), page=query.page, page_size=query.page_size, pages=math.ceil(len(matching) / query.page_size))

    async def list(self, query: VoiceListQuery) -> VoiceListResponse:
        self._check_loaded()
        return await run_in_threadpool(self._page, query)

    async def folders(self) -> FolderNode:
        self._check_loaded()
        return await run_in_threadpool(lambda: folder_tree(self.library.select(VoiceFilter())))

    async def stats(self, limit: int) -> VoiceStats:
        self._check_loaded()
        return await run_in_threadpool(lambda: usage_stats(self.library.select(VoiceFilter()), limit))

    # --- edits and deletes -------------------------------------------------------------

    async def update(self, name: str, patch: VoiceMetadataPatch, if_match: str | None) -> Response:
        self.check_name(name, "name")
        if patch.is_empty:
            raise APIError(422, "send at least one field to change: name, display_name, description, tags, folder, defaults", field="body")
        return voice_json(await self._call(self.library.update, name, patch, if_match))

    async def _delete(self, voices: list[VoiceMetadata], confirm: bool) -> DeletedVoices:
        names = sorted((v.name for v in voices), key=str.casefold)
        if not confirm:
            raise APIError(
                400, f"this would delete {len(names)} voice(s); repeat the request with confirm=true to delete them", field="confirm",
                error_type="confirmation_required", extra={"would_delete": names, "count": len(names)},
            )
        deleted = []
        for voice in voices:
            try:
                deleted.append(await self._call(self.library.delete, voice.name))
            except APIError as exc:
                if exc.status_code != 404:  # deleted by someone else meanwhile: the goal is met
                    raise
        await self._forget(*deleted)
        logger.info("voices deleted", extra={"count": len(deleted)})
        return DeletedVoices(deleted=sorted((v.name for v in deleted), key=str.casefold), count=len(deleted))

    async def delete(self, name: str, confirm: bool) -> DeletedVoices:
        self.check_name(name, "name")
        return await self._delete([await self._call(self.library.get, name)], confirm)

    async def delete_many(self, voice_filter: VoiceFilter, everything: bool, confirm: bool) -> DeletedVoices:
        self._check_loaded()
        if voice_filter.is_empty and not everything:
            raise APIError(400, "name what to delete (folder, tag, search or name), or pass all=true to delete every voice", field="all")
        return await self._delete(await run_in_threadpool(self.library.select, voice_filter), confirm)

    # --- backup and restore -----------------------------------------------------------

    async def export(self, voice_filter: VoiceFilter) -> StreamingResponse:
        self._check_loaded()
        voices = sorted(await run_in_threadpool(self.library.select, voice_filter), key=lambda v: v.name.casefold())
        filename = f"voices-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.zip"
        return StreamingResponse(
            export_archive(self.library.store, voices), media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Voice-Count": str(len(voices))},
        )

    async def import_(self, archive: UploadFile, on_conflict: OnConflict) -> ImportResponse:
        limits = self.settings.limits
        self._check_archive_size(archive)
        try:
            zipped, manifest = await run_in_threadpool(
                open_archive, archive.file, max_total_bytes=limits.max_archive_bytes, max_entries=limits.max_archive_entries, max_ratio=limits.max_archive_ratio
            )
        except ArchiveError as exc:
            raise APIError(400, f"archive: {exc}", field="archive") from None
        results: list[ImportResult] = []
        for entry in manifest.voices:
            try:
                voice = await run_in_threadpool(restorable, zipped, entry, limits.voice_max_seconds)
            except ValueError as exc:
                results.append(ImportResult(name=entry.name, status="failed", error=str(exc)))
                continue
            results.append(await self._restore(voice, on_conflict))
        counts = {status: sum(1 for r in results if r.status == status) for status in ("imported", "overwritten", "renamed", "skipped", "failed")}
        logger.info("voice archive imported", extra=counts)
        return ImportResponse(results=results, counts=counts)

    async def _restore(self, voice: RestorableVoice, on_conflict: OnConflict) -> ImportResult:
        name = voice.metadata.name
        candidates = [name] + ([f"{name[:60]}-{n}" for n in range(2, 1000)] if on_conflict == "rename" else [])
        for candidate in candidates:
            try:
                metadata, replaced = await run_in_threadpool(
                    self.library.save, candidate, lambda _existing, c=candidate: voice.metadata_for(c), voice.original, voice.reference,
                    overwrite=on_conflict == "overwrite",
                )
            except VoiceExistsError:
                if on_conflict == "skip":
                    return ImportResult(name=name, status="skipped", error="a voice of this name exists (on_conflict=skip)")
                continue
            except (ValueError, PreconditionFailedError) as exc:
                return ImportResult(name=name, status="failed", error=str(exc))
            await self._forget(replaced, keep=metadata)
            status = "renamed" if candidate != name else ("overwritten" if replaced else "imported")
            return ImportResult(name=name, status=status, imported_as=metadata.name)
        return ImportResult(name=name, status="failed", error="no free name found for on_conflict=rename")

