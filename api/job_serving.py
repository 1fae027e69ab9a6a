"""Following background jobs: `GET /api/v1/jobs/{id}` and `DELETE` (cancel), on any replica
(the queue is in the database: `concat.job_queue`), with the output a finished job made."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.output_serving import output_body
from api.protocol import JobResponse
from concat.job_queue import JobNotFoundError, JobQueue
from concat.request import JobRecord
from config import ConcatSettings
from outputs.library import OutputLibrary, OutputNotFoundError


class JobServing:
    def __init__(self, settings: ConcatSettings, jobs: JobQueue, outputs: OutputLibrary) -> None:
        self.settings = settings
        self.jobs = jobs
        self.outputs = outputs

    def response(self, request: Request, record: JobRecord) -> JobResponse:
        result = None
        if record.result_filename is not None:
            try:
                metadata = self.outputs.get(record.result_filename)
            except OutputNotFoundError:
                metadata = None  # deleted since (retention or DELETE): the job still says it succeeded
            if metadata is not None:
                result = output_body(request, metadata)
        return JobResponse(**record.model_dump(), result=result, url=str(request.url_for("get_job", job_id=record.id)))

    async def _call(self, request: Request, call: Callable[[str], JobRecord], job_id: str) -> JobResponse:
        try:
            record = await run_in_threadpool(call, job_id)
        except JobNotFoundError:
            raise APIError(404, f"job_id: no job {job_id!r} (finished jobs are kept {self.settings.job_ttl_hours:g} h)", field="job_id", error_type="not_found") from None
        return self.response(request, record)

    async def job(self, request: Request, job_id: str) -> JobResponse:
        return await self._call(request, self.jobs.get, job_id)

    async def cancel(self, request: Request, job_id: str) -> JobResponse:
        return await self._call(request, self.jobs.cancel, job_id)
