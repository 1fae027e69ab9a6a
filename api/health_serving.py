"""`/api/v1/health`: each part's readiness in one answer, with causes kept for the log.

The route is public, so its text is fixed sentences; the exception behind a "not ready"
goes to the log. A runner that does not answer within RUNNER_INFO_TIMEOUT_SECONDS is
reported as not ready instead of holding the probe.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from api import __version__
from api.admission import AdmissionSlots
from api.protocol import DatabaseHealth, GenerationsHealth, HealthResponse, ModelHealth, StorageHealth
from api.runner_calls import ModelRunners, RunnerInfoCall
from contract.families import FAMILIES, ModelName
from db import DatabaseUnavailableError
from db.migrate import Schema, head_revision
from lifecycle.drain import Drain
from storage import Storage, StorageError

logger = logging.getLogger(__name__)

RUNNER_INFO_TIMEOUT_SECONDS = 10
RUNNER_NOT_READY = "the model runner is starting or not reachable; see the service log"


async def model_health(info: RunnerInfoCall) -> ModelHealth:
    call = asyncio.ensure_future(info())
    done, _ = await asyncio.wait({call}, timeout=RUNNER_INFO_TIMEOUT_SECONDS)  # not wait_for: it waits on for a call that ignores its cancellation
    if not done:
        call.cancel()
        logger.warning("health: model runner did not answer within %s s", RUNNER_INFO_TIMEOUT_SECONDS)
        return ModelHealth(ready=False, error=RUNNER_NOT_READY)
    try:
        runner = call.result()
    except Exception as exc:
        logger.warning("health: model runner did not answer: %s: %s", type(exc).__name__, str(exc)[:300])
        return ModelHealth(ready=False, error=RUNNER_NOT_READY)
    lookups = runner.conditioning_cache_hits + runner.conditioning_cache_misses
    return ModelHealth(
        ready=True, model=runner.model, source=runner.model_source, device=runner.device, dtype=runner.dtype, has_default_voice=runner.has_default_voice, tags=runner.tags,
        conditioning_cache_entries=runner.conditioning_cache_entries, conditioning_cache_hits=runner.conditioning_cache_hits,
        conditioning_cache_misses=runner.conditioning_cache_misses,
        conditioning_cache_hit_rate=round(runner.conditioning_cache_hits / lookups, 4) if lookups else None,
        references_from_storage=runner.references_from_storage, references_sent=runner.references_sent,
        jobs_done=runner.jobs_done, decoding_jobs=runner.decoding_jobs, queued_jobs=runner.queued_jobs, kv_cache=runner.kv_cache, cuda_graphs=runner.cuda_graphs, memory_rss_bytes=runner.memory_rss_bytes,
        gpu_memory_allocated_bytes=runner.gpu_memory_allocated_bytes, gpu_memory_peak_bytes=runner.gpu_memory_peak_bytes,
    )


def with_family(name: ModelName, health: ModelHealth) -> ModelHealth:
    """What a TTS model speaks and honours, from the family table (known even while its
    runner starts), for clients such as the studio that build their pickers from it."""
    family = FAMILIES[name]
    return health.model_copy(update={"languages": family.languages, "guidance": family.guidance})


class HealthServing:
    def __init__(self, models: ModelRunners, storage: Storage, schema: Schema, drain: Drain, slots: AdmissionSlots) -> None:
        self.models = models
        self.storage = storage
        self.schema = schema
        self.drain = drain
        self.slots = slots

    async def _storage(self) -> StorageHealth:
        try:
            await run_in_threadpool(self.storage.check)
        except StorageError as exc:
            logger.warning("health: storage check failed: %s", str(exc)[:300])
            return StorageHealth(backend=self.storage.backend, ready=False, error="the storage backend is not reachable or not writable; see the service log")
        return StorageHealth(backend=self.storage.backend, ready=True)

    def _database(self) -> DatabaseHealth:
        health = DatabaseHealth(engine=self.schema.database.dialect, ready=False, migration=head_revision())
        if not self.schema.ready:
            return health.model_copy(update={"error": "the database is not reachable or not migrated yet; see the service log"})
        try:
            self.schema.database.ping()
            return health.model_copy(update={"ready": True})
        except DatabaseUnavailableError:
            return health.model_copy(update={"error": "the database is not reachable; see the service log"})

    async def health(self) -> tuple[HealthResponse, int]:
        """The body and its status: 200 when every part is ready, else 503."""
        tts_infos, default = self.models.tts_infos(), self.models.default
        names = list(tts_infos)
        *models, vc, storage, database = await asyncio.gather(
            *(model_health(tts_infos[name]) for name in names), model_health(self.models.vc.info), self._storage(), run_in_threadpool(self._database),
        )
        by_name = {name: with_family(name, model) for name, model in zip(names, models, strict=True)}
        tts = by_name[default]
        draining = self.drain.started.is_set()
        ready = all(model.ready for model in models) and vc.ready and storage.ready and database.ready and not draining
        body = HealthResponse(
            status="draining" if draining else "ok" if ready else "unavailable", ready=ready, version=__version__,
            tts=tts, models=by_name, default_model=default, vc=vc, storage=storage, database=database,
            generations=GenerationsHealth(in_flight=self.slots.active, limit=self.slots.limit),
        )
        return body, 200 if ready else 503
