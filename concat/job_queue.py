"""Background jobs for long concatenations: a queue in the database that every replica takes
work from, so a job is run once (one replica claims it), followed and cancelled on any
replica, and outlives the replica that took it.

What a job needs travels with it (`payload`: the request and where its uploads were put in
storage), so any replica can run it. The replica running a job beats its heartbeat and
writes progress; a cancellation sent to any replica reaches it at its next write. A replica
that stops (killed, crashed) stops beating: after `STALE_AFTER_HEARTBEATS` missed beats any
replica queues the job again and another runs it from the start, reported in the job's
`attempts`; one shutting down gracefully hands its jobs back at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from concat.job_records import JobRecords
from concat.pipeline import ConcatCancelledError, SegmentError
from concat.request import JobError, JobProgress, JobRecord
from config import ConcatSettings
from db import Database, DatabaseUnavailableError
from lifecycle.periodic import PeriodicTasks, Task

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5
POLL_SECONDS = 1.0  # an idle worker looks for queued jobs this often (at once for jobs submitted here)
STALE_AFTER_HEARTBEATS = 10  # a running job whose replica missed this many heartbeats is taken over
EXPIRY_SECONDS = 600.0

Progress = Callable[[int, float], None]  # (segments done, input seconds done)


class JobNotFoundError(LookupError):
    """No job of that id (or it expired)."""


class JobQueueFullError(RuntimeError):
    """`max_queued_jobs` jobs are queued or running already."""


class JobFailed(Exception):
    """The work found its job cannot be done (an input gone since it was queued): the error to report."""

    def __init__(self, error: JobError) -> None:
        super().__init__(error.message)
        self.error = error


class JobHandler(Protocol):
    def run(self, record: JobRecord, payload: str, progress: Progress, cancelled: Callable[[], bool]) -> str:
        """Do the job; the output's file name. Owns and removes its temp files whatever happens."""

    def discard(self, job_id: str) -> None:
        """Remove what the job kept in storage for whoever runs it (once it has ended)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def valid_id(job_id: str) -> str:
    try:
        return uuid.UUID(hex=job_id).hex
    except ValueError:
        raise JobNotFoundError(job_id) from None


class JobQueue:
    def __init__(self, database: Database, settings: ConcatSettings) -> None:
        self.records = JobRecords(database)
        self.settings = settings
        self.worker = uuid.uuid4().hex  # this replica
        self.stale_after = STALE_AFTER_HEARTBEATS * settings.job_heartbeat_seconds
        self._handler: JobHandler | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[str, threading.Event] = {}  # job id -> "stop working on it"
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._periodic = PeriodicTasks("jobs", [
            Task("heartbeat", lambda: settings.job_heartbeat_seconds, self.heartbeat),
            Task("take-over", lambda: settings.job_heartbeat_seconds, self.take_over),
            Task("expire", lambda: EXPIRY_SECONDS, self.expire),
        ])

    def start(self, handler: JobHandler) -> None:
        """Run queued jobs with `handler`, `max_concurrent_jobs` at a time."""
        self._handler = handler
        self._threads = [threading.Thread(target=self._work_loop, name=f"job-worker-{n}", daemon=True) for n in range(self.settings.max_concurrent_jobs)]
        for thread in self._threads:
            thread.start()
        self._periodic.start()

    def close(self) -> None:
        """Stop taking jobs; the ones running here stop and go back to the queue for another replica."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            for stop in self._running.values():
                stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self._periodic.stop()

    # --- what the API asks ---------------------------------------------------------------

    def submit(self, job_id: str, segments_total: int, input_seconds: float, payload: str) -> JobRecord:
        """Queue a job (JobQueueFullError past `max_queued_jobs` queued or running, all replicas together)."""
        if self.records.open_count() >= self.settings.max_queued_jobs:
            raise JobQueueFullError(self.settings.max_queued_jobs)
        now = utcnow()
        progress = JobProgress(segments_total=segments_total, input_seconds=round(input_seconds, 3))
        record = JobRecord(id=valid_id(job_id), status="queued", created_at=now, updated_at=now, progress=progress)
        self.records.add(record, payload)
        self._wake.set()
        logger.info("job queued", extra={"job": record.id, "segments": segments_total})
        return record

    def get(self, job_id: str) -> JobRecord:
        record = self.records.get(valid_id(job_id))
        if record is None:
            raise JobNotFoundError(job_id)
        return record

    def cancel(self, job_id: str) -> JobRecord:
        """Stop the job: a queued one at once, a running one here at once and on another
        replica at its next progress write. A finished one is returned unchanged."""
        record = self.records.cancel(valid_id(job_id))
        if record is None:
            raise JobNotFoundError(job_id)
        with self._lock:
            if (stop := self._running.get(record.id)) is not None:
                stop.set()
        if record.status == "cancelled" and self._handler is not None:
            self._handler.discard(record.id)
        return record

    # --- working ---------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self.records.claim(self.worker)
            except DatabaseUnavailableError:
                claimed = None  # logged by the engine; try again after a pause
            if claimed is None:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            self._run(*claimed)

    def _run(self, record: JobRecord, payload: str) -> None:
        assert self._handler is not None
        stop = threading.Event()
        with self._lock:
            self._running[record.id] = stop
        started, last_write = time.monotonic(), 0.0
        current = record.progress

        def progress(done: int, seconds_done: float) -> None:
            nonlocal last_write, current
            now = time.monotonic()
            if now - last_write < PROGRESS_EVERY_SECONDS:
                return
            last_write = now
            current = _progress(current, done, seconds_done, now - started)
            try:
                if self.records.beat(record.id, self.worker, current) is not False:
                    stop.set()  # a cancel was asked, or another replica took the job over
            except DatabaseUnavailableError:
                pass  # progress is best effort; the heartbeat keeps trying

        logger.info("job %s started (attempt %d)", record.id, record.attempts, extra={"job": record.id, "attempt": record.attempts})  # the id in the text: which replica ran it
        outcome: tuple[str, str | None, JobError | None]
        try:
            filename = self._handler.run(record, payload, progress, stop.is_set)
            outcome = ("succeeded", filename, None)
        except ConcatCancelledError:
            outcome = ("cancelled", None, None)
        except JobFailed as exc:
            outcome = ("failed", None, exc.error)
        except SegmentError as exc:
            outcome = ("failed", None, JobError(type="invalid_input", message=str(exc), field=exc.field))
        except Exception as exc:
            logger.exception("job failed", extra={"job": record.id})
            outcome = ("failed", None, JobError(type="processing_error", message=f"{type(exc).__name__}: {exc}"[:500]))
        finally:
            with self._lock:
                self._running.pop(record.id, None)
        self._end(record, current, *outcome)

    def _end(self, record: JobRecord, progress: JobProgress, status: str, filename: str | None, error: JobError | None) -> None:
        assert self._handler is not None
        try:
            if status == "cancelled" and self._stopping.is_set() and not self.get(record.id).cancel_requested:
                if self.records.hand_back(record.id, self.worker):
                    logger.info("job handed back to the queue: this replica is stopping", extra={"job": record.id})
                return
            if status == "succeeded":
                progress = progress.model_copy(update={"segments_done": progress.segments_total, "percent": 100.0, "eta_seconds": 0.0})
            if not self.records.finish(record.id, self.worker, status, filename, error, progress):  # type: ignore[arg-type]
                logger.warning("job was taken over by another replica; this run's end is not recorded", extra={"job": record.id})
                return
        except DatabaseUnavailableError:
            logger.exception("could not record the end of a job; another replica will take it over", extra={"job": record.id, "status": status})
            return
        self._handler.discard(record.id)
        logger.info("job finished", extra={"job": record.id, "status": status})

    # --- upkeep ----------------------------------------------------------------------------

    def heartbeat(self) -> int:
        """Refresh every job running here; stop those cancelled or taken over elsewhere."""
        with self._lock:
            running = dict(self._running)
        for job_id, stop in running.items():
            if self.records.beat(job_id, self.worker) is not False:
                stop.set()
        return len(running)

    def take_over(self) -> int:
        """Queue again the running jobs of replicas that stopped beating (any replica does it)."""
        queued, failed = self.records.take_over_lost(self.stale_after)
        if queued or failed:
            logger.warning("jobs of a stopped replica taken over", extra={"queued_again": queued, "failed": failed})
        if queued:
            self._wake.set()
        return queued + failed

    def expire(self) -> int:
        """Delete finished jobs older than `job_ttl_hours` (their outputs stay)."""
        expired = self.records.expire(self.settings.job_ttl_hours * 3600)
        if self._handler is not None:
            for job_id in expired:
                self._handler.discard(job_id)
        return len(expired)


def _progress(current: JobProgress, done: int, seconds_done: float, elapsed: float) -> JobProgress:
    total = current.input_seconds
    percent = min(100.0, 100.0 * seconds_done / total) if total > 0 else 100.0 * done / max(1, current.segments_total)
    eta = elapsed * (100.0 - percent) / percent if percent > 0 else None
    return current.model_copy(update={"segments_done": done, "percent": round(percent, 1), "elapsed_seconds": round(elapsed, 2), "eta_seconds": round(eta, 1) if eta is not None else None})
