"""Serving logic of the voice library: a voice for generation, reads, listings, edits and
deletes, and what uploads (`api/voice_uploads.py`) and backups (`api/voice_backups.py`)
share: library calls with their exceptions mapped to API errors, evicting replaced voices
from the runners.

The library (`voices.library`) knows nothing of HTTP; this module turns requests into its
calls and its exceptions into the API's errors. Blocking work (decoding, analysis, storage)
runs in the thread pool so the event loop stays free for other requests.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable
from functools import partial
from typing import Literal

from fastapi import UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.protocol import (
    DeletedVoices,
    VoiceListResponse,
    VoiceResponse,
)
from api.runner_voices import ForgetConditioning, RunnerVoice
from api.uploads import decode_upload, read_upload
from audio.decoding import UploadedAudio
from config import Settings
from contract.formats import CONTENT_TYPE_BY_EXTENSION
from contract.runner_jobs import VoiceReference, conditioning_reference, unstored_reference
from contract.voice_layout import REFERENCE_SAMPLE_RATE
from storage.base import PreconditionFailedError
from voices.library import StaleVoiceError, VoiceLibrary, VoiceNotFoundError
from voices.metadata import VoiceMetadata, VoiceMetadataPatch
from voices.names import NAME_RULE, is_voice_name
from voices.query import FolderNode, VoiceFilter, VoiceListQuery, VoiceStats
from voices.records import VoiceExistsError

logger = logging.getLogger(__name__)

def check_name(name: str, field: str) -> None:
    if not is_voice_name(name):
        raise APIError(422, f"{field} {name[:80]!r} is not a valid voice name: {NAME_RULE}", field=field)


def voice_json(metadata: VoiceMetadata, status_code: int = 200, created: bool = False) -> JSONResponse:
    body = VoiceResponse(voice=metadata, etag=metadata.etag, created=created)
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers={"ETag": metadata.etag})


class VoiceServing:
    def __init__(self, settings: Settings, library: VoiceLibrary, forget_conditioning: ForgetConditioning) -> None:
        self.settings = settings
        self.library = library
        self.forget_conditioning = forget_conditioning

    # --- helpers ----------------------------------------------------------------------

    async def call(self, function: Callable, *args, field: str = "name", **kwargs):
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

    async def forget(self, *records: VoiceMetadata | None, keep: VoiceMetadata | None = None) -> None:
        hashes = sorted({r.content_hash for r in records if r is not None} - ({keep.content_hash} if keep else set()))
        if hashes:
            await self.forget_conditioning(hashes)

    def check_archive_size(self, archive: UploadFile) -> None:
        limit = self.settings.limits.max_archive_bytes
        if archive.size is not None and archive.size > limit:
            raise APIError(413, f"archive is larger than {limit} bytes", field="archive", error_type="payload_too_large")

    # --- for generation ---------------------------------------------------------------

    async def runner_voice(self, name: str, field: str) -> tuple[VoiceMetadata, RunnerVoice]:
        """A library voice as jobs carry it: by its hash and reference key, from the index;
        its audio read (from the current record) only if a runner asks for it."""
        check_name(name, field)
        metadata = await self.call(self.library.get, name, field=field)
        slim = VoiceReference(content_hash=metadata.content_hash, reference_key=metadata.reference_key)
        return metadata, RunnerVoice(slim, partial(self._reference, name, field))

    async def _reference(self, name: str, field: str) -> VoiceReference:
        metadata, samples = await self.call(self.library.reference, name, field=field)
        return conditioning_reference(samples, metadata.content_hash, metadata.reference_key)

    async def uploaded_voice(self, file: UploadFile, field: str) -> RunnerVoice:
        """An uploaded recording used as a voice once, without adding it to the library."""
        upload = await self.decode_reference(await read_upload(file, field, self.settings.limits.max_upload_bytes), file.filename, field)
        return RunnerVoice.in_memory(unstored_reference(upload.audio.samples))

    async def decode_reference(self, data: bytes, filename: str | None, field: str) -> UploadedAudio:
        """Uploaded bytes decoded to 24 kHz mono and held to the voice-reference limits."""
        limits = self.settings.limits
        return await run_in_threadpool(
            decode_upload, data, filename, field, sample_rate=REFERENCE_SAMPLE_RATE, min_seconds=limits.voice_min_seconds, max_seconds=limits.voice_max_seconds
        )

    # --- reads ------------------------------------------------------------------------

    async def get(self, name: str) -> Response:
        check_name(name, "name")
        return voice_json(await self.call(self.library.get, name))

    async def audio(self, name: str, variant: Literal["original", "reference"]) -> Response:
        check_name(name, "name")
        metadata, key, data = await self.call(self.library.audio, name, variant)
        extension = key.rsplit(".", 1)[-1]
        filename = f"{metadata.name}.{extension}"
        media_type = CONTENT_TYPE_BY_EXTENSION.get(extension) or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "ETag": metadata.etag})

    # Queries wait on the database: thread pool, not event loop.

    async def list(self, query: VoiceListQuery) -> VoiceListResponse:
        items, total = await run_in_threadpool(self.library.page, query)
        return VoiceListResponse.of(items, total, query)

    async def folders(self) -> FolderNode:
        return await run_in_threadpool(self.library.folders)

    async def stats(self, limit: int) -> VoiceStats:
        return await run_in_threadpool(self.library.stats, limit)

    # --- edits and deletes -------------------------------------------------------------

    async def update(self, name: str, patch: VoiceMetadataPatch, if_match: str | None) -> Response:
        check_name(name, "name")
        if patch.is_empty:
            raise APIError(422, "send at least one field to change: name, display_name, description, tags, folder, defaults", field="body")
        return voice_json(await self.call(self.library.update, name, patch, if_match))

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
                deleted.append(await self.call(self.library.delete, voice.name))
            except APIError as exc:
                if exc.status_code != 404:  # deleted by someone else meanwhile: the goal is met
                    raise
        await self.forget(*deleted)
        logger.info("voices deleted", extra={"count": len(deleted)})
        return DeletedVoices(deleted=sorted((v.name for v in deleted), key=str.casefold), count=len(deleted))

    async def delete(self, name: str, confirm: bool) -> DeletedVoices:
        check_name(name, "name")
        return await self._delete([await self.call(self.library.get, name)], confirm)

    async def delete_many(self, voice_filter: VoiceFilter, everything: bool, confirm: bool) -> DeletedVoices:
        if voice_filter.is_empty and not everything:
            raise APIError(400, "name what to delete (folder, tag, search or name), or pass all=true to delete every voice", field="all")
        return await self._delete(await run_in_threadpool(self.library.select, voice_filter), confirm)

