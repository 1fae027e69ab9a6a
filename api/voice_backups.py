"""Serving voice backups: the selected voices exported as a zip stream (audio, records,
checksummed manifest), and such a zip imported back, one result per voice."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from fastapi import UploadFile
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.protocol import ImportResponse, ImportResult, OnConflict
from api.voice_serving import VoiceServing
from storage.base import PreconditionFailedError
from voices.archive import ArchiveError, RestorableVoice, export_archive, open_archive, restorable
from voices.query import VoiceFilter
from voices.records import VoiceExistsError

logger = logging.getLogger(__name__)


class VoiceBackups:
    def __init__(self, voices: VoiceServing) -> None:
        self.voices = voices

    async def export(self, voice_filter: VoiceFilter) -> StreamingResponse:
        voices = sorted(await run_in_threadpool(self.voices.library.select, voice_filter), key=lambda v: v.name.casefold())
        filename = f"voices-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.zip"
        return StreamingResponse(
            export_archive(self.voices.library.store, voices), media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Voice-Count": str(len(voices))},
        )

    async def import_(self, archive: UploadFile, on_conflict: OnConflict) -> ImportResponse:
        limits = self.voices.settings.limits
        self.voices.check_archive_size(archive)
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
                    self.voices.library.save, candidate, lambda _existing, c=candidate: voice.metadata_for(c), voice.original, voice.reference,
                    overwrite=on_conflict == "overwrite",
                )
            except VoiceExistsError:
                if on_conflict == "skip":
                    return ImportResult(name=name, status="skipped", error="a voice of this name exists (on_conflict=skip)")
                continue
            except (ValueError, PreconditionFailedError) as exc:
                return ImportResult(name=name, status="failed", error=str(exc))
            await self.voices.forget(replaced, keep=metadata)
            status = "renamed" if candidate != name else ("overwritten" if replaced else "imported")
            return ImportResult(name=name, status=status, imported_as=metadata.name)
        return ImportResult(name=name, status="failed", error="no free name found for on_conflict=rename")
