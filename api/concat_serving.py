"""Serving `POST /api/v1/concat` and the jobs it may start.

Everything that can be checked is checked before any work or write: the order, that every
stored output and voice exists, that every upload decodes, that no segment is shorter than
the crossfade, and the output's length. Then short requests are joined at once and answered
like TTS (`url` or `stream`); longer ones (by total input length) become a background job
answered with 202 and followed at `GET /api/v1/jobs/{id}`: their uploads are put in storage
and the request queued in the database, so whichever replica claims the job can run it
(`concat.job_queue`). Either way the work runs in its own temp folder, removed on success,
failure and cancellation alike.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.admission import AdmissionSlots, too_busy
from api.errors import APIError
from api.job_serving import JobServing
from api.output_serving import OutputServing, not_found, output_response
from api.temp_files import TempFileResponse
from api.uploads import read_upload
from audio.decoding import AudioDecodeError, decode
from audio.encoding import output_spec
from concat.job_queue import JobFailed, JobQueue, JobQueueFullError
from concat.pipeline import ConcatCancelledError, Segment, SegmentError, run_concat
from concat.request import ConcatRequest, JobError, JobRecord, OutputInput, SilenceInput, UploadInput, VoiceInput
from config import Settings
from outputs.library import OutputLibrary, OutputNotFoundError
from outputs.store import OutputMetadata, new_output_name
from storage.base import ObjectNotFoundError
from voices.library import VoiceLibrary, VoiceNotFoundError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, float], None]
CONCAT_DEFAULT_RATE = 24_000  # the models' rate: what most inputs already are
JOB_INPUTS_PREFIX = "job-inputs/"  # a queued job's uploads, in storage until it ends


@dataclass(frozen=True)
class Upload:
    """An uploaded file a segment reads: from this replica's temp folder, or from storage
    when the job runs on whichever replica claimed it."""

    read: Callable[[], bytes]
    seconds: float
    source: str  # the file or key: several names (file name, position) may name one upload


class QueuedUpload(BaseModel):
    key: str
    seconds: float


class QueuedConcat(BaseModel):
    """A queued job's payload: what any replica needs to run it."""

    body: ConcatRequest
    uploads: dict[str, QueuedUpload]  # by file name and by position, as the request named them


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
    def __init__(self, settings: Settings, outputs: OutputLibrary, output_serving: OutputServing, voices: VoiceLibrary, jobs: JobQueue, job_serving: JobServing) -> None:
        self.settings = settings
        self.outputs = outputs
        self.output_serving = output_serving
        self.voices = voices
        self.jobs = jobs
        self.job_serving = job_serving
        # Synchronous concatenations hold a thread for as long as they run: on a pool of their
        # own, bounded, they never take the request pool's threads from everything else.
        self._sync_pool = ThreadPoolExecutor(settings.concat.max_concurrent_sync, thread_name_prefix="concat-sync")
        self._sync_slots = AdmissionSlots(settings.concat.max_concurrent_sync, work="concatenating for", setting="concat.max_concurrent_sync")

    # --- planning: every check before any work ----------------------------------------

    async def _save_uploads(self, files: list[UploadFile], folder: Path) -> dict[str, Upload]:
        """Each upload decoded once (corrupt or empty: 4xx) and kept in `folder`; by name and
        by position."""
        saved: dict[str, Upload] = {}
        for position, upload in enumerate(files):
            field = f"files[{position}]"
            data = await read_upload(upload, field, self.settings.limits.max_upload_bytes)
            try:
                audio = await run_in_threadpool(partial(decode, data, max_seconds=self.settings.concat.max_upload_seconds))
            except AudioDecodeError as exc:
                raise APIError(400, f"{field} ({upload.filename}): {exc}; send wav, mp3, flac, ogg/opus or m4a", field="files") from None
            path = folder / f"upload-{position}"
            await run_in_threadpool(path.write_bytes, data)
            saved[str(position)] = Upload(path.read_bytes, audio.duration_seconds, str(path))
            if upload.filename:
                saved.setdefault(upload.filename, saved[str(position)])
        return saved

    def _segment(self, position: int, item: object, uploads: dict[str, Upload]) -> Segment:
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
            count = len({upload.source for upload in uploads.values()})
            raise APIError(422, f"{field}.upload: no file {item.upload!r} among the {count} uploaded in `files` (name them by file name or position)", field=f"{field}.upload")
        upload = uploads[str(item.upload)]
        return Segment(position, f"upload {item.upload}", upload.seconds, _loader(upload.read))

    def _plan(self, body: ConcatRequest, uploads: dict[str, Upload]) -> list[Segment]:
        limits = self.settings.concat
        if len(body.inputs) > limits.max_inputs:
            raise APIError(422, f"inputs: {len(body.inputs)} segments; at most {limits.max_inputs} per request", field="inputs")
        segments = [self._segment(position, item, uploads) for position, item in body.ordered_inputs]
        unused = {upload.source for upload in uploads.values()} - {uploads[str(item.upload)].source for item in body.inputs if isinstance(item, UploadInput)}
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
            job_id = uuid.uuid4().hex
            try:
                record = await run_in_threadpool(self._queue, job_id, body, uploads, len(segments), input_seconds)
            except JobQueueFullError:
                raise too_busy(f"holding {self.settings.concat.max_queued_jobs} concatenation jobs (concat.max_queued_jobs)") from None
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            url = str(request.url_for("get_job", job_id=record.id))
            return JSONResponse(self.job_serving.response(request, record).model_dump(mode="json"), status_code=202, headers={"Location": url})
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

    # --- jobs: queued here, run by whichever replica claims them ------------------------

    def _queue(self, job_id: str, body: ConcatRequest, uploads: dict[str, Upload], segments: int, input_seconds: float) -> JobRecord:
        """The uploads put in storage for any replica, then the job queued (its inputs removed
        again if it could not be)."""
        storage = self.outputs.store.storage
        keys = {source: f"{JOB_INPUTS_PREFIX}{job_id}/upload-{n}" for n, source in enumerate(sorted({u.source for u in uploads.values()}))}
        queued = QueuedConcat(body=body, uploads={name: QueuedUpload(key=keys[u.source], seconds=u.seconds) for name, u in uploads.items()})
        try:
            for source, key in keys.items():
                storage.put_file(key, Path(source))
            return self.jobs.submit(job_id, segments, input_seconds, queued.model_dump_json())
        except BaseException:
            self.discard(job_id)
            raise

    def run(self, record: JobRecord, payload: str, progress: ProgressCallback, cancelled: Callable[[], bool]) -> str:
        """A queued job, on whichever replica claimed it: planned again (an input deleted since
        it was queued fails the job, naming it), then joined and stored."""
        queued = QueuedConcat.model_validate_json(payload)
        storage = self.outputs.store.storage
        uploads = {name: Upload(partial(storage.get, upload.key), upload.seconds, upload.key) for name, upload in queued.uploads.items()}
        try:
            segments = self._plan(queued.body, uploads)
        except APIError as exc:
            raise JobFailed(JobError(type=exc.error_type, message=exc.message, field=exc.field)) from None
        folder = Path(tempfile.mkdtemp(prefix="concat-"))
        return self._produce(queued.body, segments, folder, progress, cancelled).filename

    def discard(self, job_id: str) -> None:
        storage = self.outputs.store.storage
        for key in list(storage.list_keys(f"{JOB_INPUTS_PREFIX}{job_id}/")):
            storage.delete(key)
