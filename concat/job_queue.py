"""Background jobs for long concatenations: run here, visible from every replica.

A job's record lives in storage (`jobs/<id>.json`), so `GET /api/v1/jobs/{id}` works on any
replica behind the load balancer, and a cancellation sent to any replica reaches the one
running it: the runner writes progress conditionally (on the version it last wrote), and a
write that loses the race re-reads the record and sees `cancel_requested`. The work itself
runs in this process's job pool, independent of the HTTP request, so a client that
disconnects after the 202 loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from pydantic import ValidationError

from concat.pipeline import ConcatCancelledError, SegmentError
from concat.request import JobError, JobProgress, JobRecord
from config import ConcatSettings
from lifecycle.periodic import PeriodicTasks, Task
from storage.base import ObjectNotFoundError, Storage
from storage.retries import retry_conflicts

logger = logging.getLogger(__name__)

JOBS_PREFIX = "jobs/"
PROGRESS_EVERY_SECONDS = 0.5
STALE_AFTER_HEARTBEATS = 10  # a queued or running job whose record missed this many heartbeats lost its replica
FINISHED = ("succeeded", "failed", "cancelled")


class JobNotFoundError(LookupError):
    """No job of that id (or it expired)."""


class JobQueueFullError(RuntimeError):
    """This replica has `max_queued_jobs` jobs queued or running already."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def job_key(job_id: str) -> str:
    try:
        return f"{JOBS_PREFIX}{uuid.UUID(hex=job_id).hex}.json"
    except ValueError:
        raise JobNotFoundError(job_id) from None


# The work: given a progress callback and a "was I cancelled?" probe, produce the output and
# return its file name; it owns and removes its temp folder whatever happens.
JobWork = Callable[[Callable[[int, float], None], Callable[[], bool]], str]


class JobManager:
    def __init__(self, storage: Storage, settings: ConcatSettings) -> None:
        self.storage = storage
        self.settings = settings
        self._pool = ThreadPoolExecutor(settings.max_concurrent_jobs, thread_name_prefix="concat-job")
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.stale_after = timedelta(seconds=STALE_AFTER_HEARTBEATS * settings.job_heartbeat_seconds)
        self._periodic = PeriodicTasks("jobs", [Task("expire", lambda: 600.0, self.expire), Task("heartbeat", lambda: settings.job_heartbeat_seconds, self.heartbeat)])

    def start(self) -> None:
        self._periodic.start()

    def close(self) -> None:
        """Stop: every job here, running or queued, is cancelled; each still starts, sees it,
        removes its temp folder and records `cancelled`."""
        self._periodic.stop()
        with self._lock:
            for event in self._cancel.values():
                event.set()
        self._pool.shutdown(wait=True)

    # --- records ----------------------------------------------------------------------

    def _read(self, job_id: str) -> tuple[JobRecord, str]:
        try:
            data, version = self.storage.get_versioned(job_key(job_id))
        except ObjectNotFoundError:
            raise JobNotFoundError(job_id) from None
        return JobRecord.model_validate_json(data), version

    def _update(self, job_id: str, change: Callable[[JobRecord], JobRecord]) -> JobRecord:
        def attempt() -> JobRecord:
            current, version = self._read(job_id)
            updated = change(current).model_copy(update={"updated_at": utcnow()})
            self.storage.put_if(job_key(job_id), updated.model_dump_json(indent=2).encode(), version, "application/json")
            return updated

        return retry_conflicts(f"job {job_id}", attempt)

    def get(self, job_id: str) -> JobRecord:
        record, _ = self._read(job_id)
        if record.status in ("queued", "running") and utcnow() - record.updated_at > self.stale_after:
            # Its replica stopped without finishing it: say so instead of "running" forever.
            return record.model_copy(update={"status": "failed", "error": JobError(type="worker_lost", message="the replica running this job stopped; submit it again")})
        return record

    # --- running ----------------------------------------------------------------------

    def submit(self, segments_total: int, input_seconds: float, work: JobWork) -> JobRecord:
        """Queue the work (JobQueueFullError past `max_queued_jobs`: the pool's queue has no bound of its own)."""
        with self._lock:
            if len(self._cancel) >= self.settings.max_queued_jobs:
                raise JobQueueFullError(len(self._cancel))
        now = utcnow()
        progress = JobProgress(segments_total=segments_total, input_seconds=round(input_seconds, 3))
        record = JobRecord(id=uuid.uuid4().hex, status="queued", created_at=now, updated_at=now, progress=progress)
        self.storage.put_if(job_key(record.id), record.model_dump_json(indent=2).encode(), None, "application/json")
        event = threading.Event()
        with self._lock:
            self._cancel[record.id] = event
        self._pool.submit(self._run, record.id, work, event)
        logger.info("job queued", extra={"job": record.id, "segments": segments_total})
        return record

    def _run(self, job_id: str, work: JobWork, cancelled: threading.Event) -> None:
        started = time.monotonic()
        last_write = 0.0

        def observe(record: JobRecord) -> JobRecord:
            if record.cancel_requested:
                cancelled.set()
            return record

        def progress(done: int, seconds_done: float) -> None:
            nonlocal last_write
            now = time.monotonic()
            if now - last_write < PROGRESS_EVERY_SECONDS:
                return
            last_write = now
            try:
                self._update(job_id, lambda r: observe(r).model_copy(update={"progress": _progress(r.progress, done, seconds_done, now - started)}))
            except Exception as exc:  # progress is best effort: a storage hiccup must not fail the job
                logger.warning("could not record job progress", extra={"job": job_id, "error": f"{type(exc).__name__}: {exc}"[:300]})

        try:
            self._update(job_id, lambda r: observe(r).model_copy(update={"status": "running"}) if not r.cancel_requested else r)
            filename = work(progress, cancelled.is_set)
        except ConcatCancelledError:
            self._finish(job_id, "cancelled", None, None)
        except SegmentError as exc:
            self._finish(job_id, "failed", None, JobError(type="invalid_input", message=str(exc), field=exc.field))
        except Exception as exc:
            logger.exception("job failed", extra={"job": job_id})
            self._finish(job_id, "failed", None, JobError(type="processing_error", message=f"{type(exc).__name__}: {exc}"[:500]))
        else:
            self._finish(job_id, "succeeded", filename, None)
        finally:
            with self._lock:
                self._cancel.pop(job_id, None)

    def _finish(self, job_id: str, status: str, filename: str | None, error: JobError | None) -> None:
        def change(record: JobRecord) -> JobRecord:
            progress = record.progress
            if status == "succeeded":
                progress = progress.model_copy(update={"segments_done": progress.segments_total, "percent": 100.0, "eta_seconds": 0.0})
            return record.model_copy(update={"status": status, "result_filename": filename, "error": error, "progress": progress})

        try:
            self._update(job_id, change)
        except Exception:
            logger.exception("could not record the end of a job", extra={"job": job_id, "status": status})
        logger.info("job finished", extra={"job": job_id, "status": status})

    def heartbeat(self) -> int:
        """Refresh the record of every job queued or running here, so a job waiting behind
        `max_concurrent_jobs` or working on one long segment is never taken for one whose
        replica stopped; a cancellation sent to another replica reaches a queued job too."""
        with self._lock:
            jobs = dict(self._cancel)
        for job_id, event in jobs.items():
            try:
                record = self._update(job_id, lambda r: r)
            except Exception as exc:  # best effort, like progress: the next beat retries
                logger.warning("could not refresh a job record", extra={"job": job_id, "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            if record.cancel_requested:
                event.set()
        return len(jobs)

    def cancel(self, job_id: str) -> JobRecord:
        """Ask the job to stop: at once when it runs here, at its next progress write when it
        runs on another replica. A finished job is returned unchanged."""
        with self._lock:
            event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        return self._update(job_id, lambda r: r if r.status in FINISHED else r.model_copy(update={"cancel_requested": True}))

    def expire(self) -> int:
        """Delete finished job records older than `job_ttl_hours` (the outputs stay)."""
        cutoff = utcnow() - timedelta(hours=self.settings.job_ttl_hours)
        removed = 0
        for info in self.storage.list_objects(JOBS_PREFIX):
            try:
                record = JobRecord.model_validate_json(self.storage.get(info.key))
            except (ObjectNotFoundError, ValidationError):
                continue
            if record.updated_at < cutoff and (record.status in FINISHED or utcnow() - record.updated_at > self.stale_after):
                self.storage.delete(info.key)
                removed += 1
        return removed


def _progress(current: JobProgress, done: int, seconds_done: float, elapsed: float) -> JobProgress:
    total = current.input_seconds
    percent = min(100.0, 100.0 * seconds_done / total) if total > 0 else 100.0 * done / max(1, current.segments_total)
    eta = elapsed * (100.0 - percent) / percent if percent > 0 else None
    return current.model_copy(update={"segments_done": done, "percent": round(percent, 1), "elapsed_seconds": round(elapsed, 2), "eta_seconds": round(eta, 1) if eta is not None else None})
