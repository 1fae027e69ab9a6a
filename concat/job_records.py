"""The job queue's rows: submitting, claiming (each queued job by exactly one replica),
progress and heartbeats, cancellation, finishing, taking over the jobs of replicas that
stopped, and expiry. Every change is one statement, conditional where two replicas could
race: a claim locks the oldest queued row and skips rows other replicas are claiming
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write transactions are serial anyway);
progress and the end of a job are written only by the replica that holds it.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from concat.request import JobError, JobProgress, JobRecord, JobStatus
from db import Database
from db.schema import jobs, moment

FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
OPEN: tuple[JobStatus, ...] = ("queued", "running")
MAX_ATTEMPTS = 3  # a job whose replica stopped this many times fails instead of being taken over again


def _record(row: Row) -> JobRecord:
    return JobRecord(
        id=row.id, type=row.type, status=row.status, created_at=moment(row.created_at), updated_at=moment(row.updated_at),
        progress=JobProgress.model_validate_json(row.progress), result_filename=row.result_filename,
        error=JobError.model_validate_json(row.error) if row.error else None, cancel_requested=row.cancel_requested, attempts=row.attempts,
    )


class JobRecords:
    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, record: JobRecord, payload: str) -> None:
        values = {
            "id": record.id, "type": record.type, "status": record.status, "created_at": record.created_at.timestamp(),
            "updated_at": record.updated_at.timestamp(), "heartbeat_at": None, "worker": None, "attempts": 0, "cancel_requested": False,
            "progress": record.progress.model_dump_json(), "payload": payload, "result_filename": None, "error": None,
        }
        with self.database.write() as connection:
            connection.execute(insert(jobs).values(values))

    def get(self, job_id: str) -> JobRecord | None:
        with self.database.read() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _record(row) if row is not None else None

    def open_count(self) -> int:
        with self.database.read() as connection:
            return connection.scalar(select(func.count()).select_from(jobs).where(jobs.c.status.in_(OPEN))) or 0

    def claim(self, worker: str) -> tuple[JobRecord, str] | None:
        """The oldest queued job, now running here: (its record, its payload); None when none waits."""
        now = time.time()
        oldest = select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.created_at).limit(1).with_for_update(skip_locked=True)
        with self.database.write() as connection:
            job_id = connection.scalar(oldest)
            if job_id is None:
                return None
            connection.execute(
                update(jobs).where(jobs.c.id == job_id).values(status="running", worker=worker, heartbeat_at=now, updated_at=now, attempts=jobs.c.attempts + 1)
            )
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).one()
        return _record(row), row.payload

    def _mine(self, job_id: str, holder: str, **values: Any) -> Row | None:
        """Change a job this worker holds; its (cancel_requested,) after, None if it is not held here any more."""
        now = time.time()
        statement = update(jobs).where(jobs.c.id == job_id, jobs.c.worker == holder, jobs.c.status == "running").values(updated_at=now, heartbeat_at=now, **values)
        with self.database.write() as connection:
            return connection.execute(statement.returning(jobs.c.cancel_requested)).first()

    def beat(self, job_id: str, worker: str, progress: JobProgress | None = None) -> bool | None:
        """A heartbeat of a job held here (with its progress, when given): whether a cancel
        was asked, None if it is not held here any more."""
        row = self._mine(job_id, worker, **({"progress": progress.model_dump_json()} if progress is not None else {}))
        return row.cancel_requested if row is not None else None

    def finish(self, job_id: str, worker: str, status: JobStatus, filename: str | None, error: JobError | None, progress: JobProgress | None) -> bool:
        """The end of a job this worker holds; False when another replica took it over meanwhile."""
        values: dict[str, Any] = {"status": status, "result_filename": filename, "error": error.model_dump_json() if error else None, "worker": None}
        if progress is not None:
            values["progress"] = progress.model_dump_json()
        return self._mine(job_id, worker, **values) is not None

    def hand_back(self, job_id: str, worker: str) -> bool:
        """A job this replica stops running without finishing (it is shutting down): queued again for another."""
        return self._mine(job_id, worker, status="queued", worker=None) is not None

    def cancel(self, job_id: str) -> JobRecord | None:
        """A queued job is cancelled at once; a running one is asked to stop (its worker sees it
        at its next progress or heartbeat); a finished one is left as it is."""
        now = time.time()
        with self.database.write() as connection:
            connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued").values(status="cancelled", cancel_requested=True, updated_at=now))
            connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running").values(cancel_requested=True, updated_at=now))
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _record(row) if row is not None else None

    def take_over_lost(self, stale_seconds: float) -> tuple[int, int]:
        """Running jobs whose replica stopped beating: queued again for any replica, or failed
        `worker_lost` after MAX_ATTEMPTS starts. Returns (queued again, failed)."""
        now = time.time()
        lost = (jobs.c.status == "running", jobs.c.heartbeat_at < now - stale_seconds)
        error = JobError(type="worker_lost", message=f"the replicas running this job stopped {MAX_ATTEMPTS} times; submit it again").model_dump_json()
        with self.database.write() as connection:
            failed = connection.execute(update(jobs).where(*lost, jobs.c.attempts >= MAX_ATTEMPTS).values(status="failed", error=error, worker=None, updated_at=now)).rowcount
            queued = connection.execute(update(jobs).where(*lost).values(status="queued", worker=None, updated_at=now)).rowcount
        return queued, failed

    def expire(self, older_than_seconds: float) -> list[str]:
        """Delete finished jobs not updated for this long; their ids."""
        cutoff = time.time() - older_than_seconds
        with self.database.write() as connection:
            return list(connection.scalars(delete(jobs).where(jobs.c.status.in_(FINISHED), jobs.c.updated_at < cutoff).returning(jobs.c.id)))
