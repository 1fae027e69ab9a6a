"""Serving `POST /api/v1/concat` and the jobs it may start.

Everything that can be checked is checked before any work or write: the order, that every
stored output and voice exists, that every upload decodes, that no segment is shorter than
the crossfade, and the output's length. Then short requests are joined at once and answered
like TTS (`url` or `stream`); longer ones (by total input length) become a background job
answered with 202 and followed at `GET /api/v1/jobs/{id}`. Either way the work runs in its
own temp folder, removed on success, failure and cancellation alike.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.admission import AdmissionSlots, too_busy
from api.errors import APIError
from api.output_serving import OutputServing, not_found, output_body, output_response
from api.protocol import JobResponse
from api.temp_files import TempFileResponse
from api.uploads import read_upload
from audio.decoding import AudioDecodeError, decode
from audio.encoding import output_spec
from concat.job_queue import JobManager, JobNotFoundError, JobQueueFullError
from concat.pipeline import ConcatCancelledError, Segment, SegmentError, run_concat
from concat.request import ConcatRequest, JobRecord, OutputInput, SilenceInput, UploadInput, VoiceInput
from config import Settings
from outputs.library import OutputLibrary, OutputNotFoundError
from outputs.store import OutputMetadata, new_output_name
from storage.base import ObjectNotFoundError
from voices.library import VoiceLibrary, VoiceNotFoundError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, float], None]
CONCAT_DEFAULT_RATE = 24_000  # the models' rate: what most inputs already are


def _loader(read: Callable[[], bytes], raw_pcm_rate: int | None = None) -> Callable[[int], np.ndarray]:
    def load(rate: int) -> np.ndarray:
        try:
            return decode(read(), rate, raw_pcm_rate=raw_pcm_rate).samples
        except AudioDecodeError as exc:
            raise ValueError(f"not readable audio: {exc}") from exc
        except ObjectNotFoundError:  # a stored input deleted after the request was checked
            raise ValueError("it was deleted while the concatenation ran") from None

    return load


def result_path(folder: Path, extension: str) -> Path:
    """Where a concatenation writes its result inside its temp folder."""
    return folder / f"result.{extension}"


class ConcatServing:
    def __init__(self, settings: Settings, outputs: OutputLibrary, output_serving: OutputServing, voices: VoiceLibrary, jobs: JobManager) -> None:
        self.settings = settings
        self.outputs = outputs
        self.output_serving = output_serving
        self.voices = voices
        self.jobs = jobs
        # Synchronous concatenations hold a thread for as long as they run: on a pool of their
        # own, bounded, they never take the request pool's threads from everything else.
        self._sync_pool = ThreadPoolExecutor(settings.concat.max_concurrent_sync, thread_name_prefix="concat-sync")
        self._sync_slots = AdmissionSlots(settings.concat.max_concurrent_sync, work="concatenating for", setting="concat.max_concurrent_sync")

    # --- planning: every check before any work ----------------------------------------

    async def _save_uploads(self, files: list[UploadFile], folder: Path) -> dict[str, tuple[Path, float]]:
        """Each upload decoded once (corrupt or empty: 4xx) and kept in `folder`; by name and
        by position."""
        saved: dict[str, tuple[Path, float]] = {}
        for position, upload in enumerate(files):
            field = f"files[{position}]"
            data = await read_upload(upload, field, self.settings.limits.max_upload_bytes)
            try:
                audio = await run_in_threadpool(partial(decode, data, max_seconds=self.settings.concat.max_upload_seconds))
            except AudioDecodeError as exc:
                raise APIError(400, f"{field} ({upload.filename}): {exc}; send wav, mp3, flac, ogg/opus or m4a", field="files") from None
            path = folder / f"upload-{position}"
            await run_in_threadpool(path.write_bytes, data)
            saved[str(position)] = (path, audio.duration_seconds)
            if upload.filename:
                saved.setdefault(upload.filename, (path, audio.duration_seconds))
        return saved

    def _segment(self, position: int, item: object, uploads: dict[str, tuple[Path, float]]) -> Segment:
        field = f"inputs[{position}]"
        storage = self.outputs.store.storage
        if isinstance(item, SilenceInput):
            return Segment(position, f"silence {item.silence_ms} ms", item.silence_ms / 1000, None)
        if isinstance(item, OutputInput):
            try:
                metadata = self.outputs.get(item.output)
            except OutputNotFoundError:
                raise not_found(item.output, f"{field}.output") from None
            key = self.outputs.store.audio_key(item.output)
            pcm_rate = metadata.sample_rate if metadata.format == "pcm" else None
            return Segment(position, f"output {item.output}", metadata.duration_seconds, _loader(partial(storage.get, key), pcm_rate))
        if isinstance(item, VoiceInput):
            try:
                voice = self.voices.get(item.voice)
            except VoiceNotFoundError:
                raise APIError(404, f"{field}.voice: no voice named {item.voice!r} (see GET /api/v1/voices)", field=f"{field}.voice", error_type="not_found") from None
            return Segment(position, f"voice {voice.name}", voice.audio.duration_seconds, _loader(partial(storage.get, voice.original_key)))
        assert isinstance(item, UploadInput)
        if str(item.upload) not in uploads:
            count = len({path for path, _ in uploads.values()})
            raise APIError(422, f"{field}.upload: no file {item.upload!r} among the {count} uploaded in `files` (name them by file name or position)", field=f"{field}.upload")
        path, seconds = uploads[str(item.upload)]
        return Segment(position, f"upload {item.upload}", seconds, _loader(path.read_bytes))

    def _plan(self, body: ConcatRequest, uploads: dict[str, tuple[Path, float]]) -> list[Segment]:
        limits = self.settings.concat
        if len(body.inputs) > limits.max_inputs:
            raise APIError(422, f"inputs: {len(body.inputs)} segments; at most {limits.max_inputs} per request", field="inputs")
        segments = [self._segment(position, item, uploads) for position, item in body.ordered_inputs]
        unused = {path for path, _ in uploads.values()} - {uploads[str(item.upload)][0] for item in body.inputs if isinstance(item, UploadInput)}
        if unused:
            raise APIError(422, f"files: {len(unused)} uploaded file(s) are used by no input; reference each as {{\"upload\": <file name or position>}}", field="files")
        for segment in segments:
            if segment.seconds * 1000 < body.crossfade_ms:
                raise APIError(
                    422, f"crossfade_ms: {body.crossfade_ms} ms is longer than {segment.field} ({segment.label}, {segment.seconds * 1000:.0f} ms); shorten the crossfade", field="crossfade_ms"
                )
        seams = len(segments) - 1
        estimate = sum(s.seconds for s in segments) + seams * (body.pause_ms + body.pause_jitter_ms - body.crossfade_ms) / 1000
        if estimate > limits.max_output_seconds:
            raise APIError(422, f"inputs: the result would last about {estimate:.0f} s; at most {limits.max_output_seconds:g} s", field="inputs")
        return segments

    # --- running ----------------------------------------------------------------------

    def _produce(
        self, body: ConcatRequest, segments: list[Segment], folder: Path, progress: ProgressCallback, cancelled: Callable[[], bool], *, keep_result: bool = False
    ) -> OutputMetadata:
        """Join, store as an output of type `concat`, and remove the temp folder, whatever
        happens; with `keep_result`, a result stored is left in the folder to be sent
        (`result_path`), and its response removes the folder."""
        stored = False
        try:
            spec = output_spec(body.output_format, body.sample_rate, self.settings.audio, CONCAT_DEFAULT_RATE)
            seed = body.seed if body.seed is not None else secrets.randbelow(2**32)
            path = result_path(folder, spec.format.extension)
            started = time.perf_counter()
            report = run_concat(segments, body, spec, path, seed, progress, cancelled)
            if cancelled():
                raise ConcatCancelledError()
            parameters = body.model_dump(mode="json", exclude={"inputs", "order"}) | {
                "inputs": [{"position": s.position, "source": s.label, "seconds": round(s.seconds, 3)} for s in segments],
                "order": [s.position for s in segments],
                "seed": seed, "sample_rate": spec.sample_rate, "bitrate": spec.bitrate,
                "pauses_ms": report.pauses_ms, "gains_db": report.gains_db, "trimmed_seconds": report.trimmed_seconds,
            }
            filename = new_output_name("concat", spec.format.extension, {"segments": len(segments), "xfade": body.crossfade_ms or None})
            metadata = OutputMetadata(
                filename=filename, type="concat", created_at=datetime.now(timezone.utc), format=spec.format.value, content_type=spec.format.content_type,
                sample_rate=spec.sample_rate, duration_seconds=report.seconds, size_bytes=path.stat().st_size,
                generation_seconds=round(time.perf_counter() - started, 3), model_source="none", voice=None, parameters=parameters,
            )
            self.outputs.save(path, metadata)
            stored = True
            logger.info("concat stored", extra={"output": filename, "segments": len(segments), "seconds": report.seconds})
            return metadata
        finally:
            if not (stored and keep_result):
                shutil.rmtree(folder, ignore_errors=True)

    async def concat(self, request: Request, body: ConcatRequest, files: list[UploadFile]) -> Response:
        folder = Path(tempfile.mkdtemp(prefix="concat-"))
        try:
            uploads = await self._save_uploads(files, folder)
            segments = await run_in_threadpool(self._plan, body, uploads)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        input_seconds = sum(segment.seconds for segment in segments)
        if input_seconds > self.settings.concat.sync_max_seconds:
            work = partial(self._produce_name, body, segments, folder)
            try:
                record = await run_in_threadpool(self.jobs.submit, len(segments), input_seconds, work)
            except JobQueueFullError:
                shutil.rmtree(folder, ignore_errors=True)
                raise too_busy(f"holding {self.settings.concat.max_queued_jobs} concatenation jobs (concat.max_queued_jobs)") from None
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            url = str(request.url_for("get_job", job_id=record.id))
            return JSONResponse(self.job_response(request, record).model_dump(mode="json"), status_code=202, headers={"Location": url})
        try:
            self._sync_slots.acquire()
        except APIError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        streamed = body.response_mode == "stream"
        try:
            produce = partial(self._produce, body, segments, folder, lambda done, seconds: None, lambda: False, keep_result=streamed)
            metadata = await asyncio.get_running_loop().run_in_executor(self._sync_pool, produce)
        except SegmentError as exc:
            raise APIError(400, str(exc), field=exc.field) from None
        finally:
            self._sync_slots.release()
        if streamed:  # the file just written, not the stored copy read back
            headers = {"Content-Disposition": f'attachment; filename="{metadata.filename}"', "X-Output-Filename": metadata.filename}
            return TempFileResponse(result_path(folder, metadata.filename.rsplit(".", 1)[-1]), folder, media_type=metadata.content_type, headers=headers)
        return output_response(request, metadata)

    def _produce_name(self, body: ConcatRequest, segments: list[Segment], folder: Path, progress: ProgressCallback, cancelled: Callable[[], bool]) -> str:
        return self._produce(body, segments, folder, progress, cancelled).filename

    # --- jobs -------------------------------------------------------------------------

    def job_response(self, request: Request, record: JobRecord) -> JobResponse:
        result = None
        if record.result_filename is not None:
            try:
                metadata = self.outputs.get(record.result_filename)
            except OutputNotFoundError:
                metadata = None  # deleted since (retention or DELETE): the job still says it succeeded
            if metadata is not None:
                result = output_body(request, metadata)
        return JobResponse(**record.model_dump(), result=result, url=str(request.url_for("get_job", job_id=record.id)))

    async def _job_call(self, request: Request, call: Callable[[str], JobRecord], job_id: str) -> JobResponse:
        try:
            record = await run_in_threadpool(call, job_id)
        except JobNotFoundError:
            raise APIError(404, f"job_id: no job {job_id!r} (finished jobs are kept {self.settings.concat.job_ttl_hours:g} h)", field="job_id", error_type="not_found") from None
        return self.job_response(request, record)

    async def job(self, request: Request, job_id: str) -> JobResponse:
        return await self._job_call(request, self.jobs.get, job_id)

    async def cancel(self, request: Request, job_id: str) -> JobResponse:
        return await self._job_call(request, self.jobs.cancel, job_id)
