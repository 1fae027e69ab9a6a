"""The Chatterbox API service: the composition root. It builds the FastAPI app (`api/app.py`:
routers, middlewares), declares the model runners it depends on (`bentoml.depends`, one
per enabled TTS model from the family table, and VC's), and when it starts builds the
serving objects the routes hand over to (`api.dependencies.Serving`). `bentoml serve`
starts the runners with it and adaptive batching merges concurrent requests.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import bentoml

from api.admission import AdmissionSlots
from api.app import create_app
from api.concat_serving import ConcatServing
from api.dependencies import Serving
from api.generation_results import GenerationResults
from api.health_serving import HealthServing
from api.job_serving import JobServing
from api.metrics_labels import RouteTemplates
from api.metrics_labels import install as install_route_labels
from api.middleware import NewlinePaths
from api.openai_serving import OpenAIServing
from api.output_serving import OutputServing
from api.realtime_serving import RealtimeServing
from api.request_timeout import install as install_request_timeout
from api.runner_calls import ModelRunner, ModelRunners, RunnerCalls, RunnerStages
from api.runner_voices import VoicesInUse
from api.speech_serving import SpeechServing
from api.vc_serving import VCServing
from api.voice_backups import VoiceBackups
from api.voice_resolution import PredefinedVoices, VoiceResolver
from api.voice_serving import VoiceServing
from api.voice_uploads import VoiceUploads
from concat.job_queue import JobQueue
from config import get_settings
from config.logs import configure_logging
from contract.families import FAMILIES, ModelName
from db import Database
from db.idempotency import IdempotencyStore
from db.migrate import Schema
from lifecycle.drain import Drain
from lifecycle.periodic import PeriodicTasks, Task
from outputs.library import OutputLibrary
from outputs.store import OutputStore
from runners import connections as runner_connections
from runners.tts_runner import TTS_RUNNERS
from runners.vc_runner import VCRunner
from storage import create_storage
from voices.library import VoiceLibrary
from voices.store import VoiceStore

logger = logging.getLogger(__name__)
settings = get_settings()
configure_logging(settings.logging.level)
ENABLED_MODELS: list[ModelName] = settings.model.enabled  # fixed at import: BentoML reads the runner dependencies from the class
EXPIRY_SECONDS = 600  # idempotency records and idle rate-limit buckets are deleted this often

runner_connections.install(settings.runner.connection_max_age_seconds)  # before the runner clients exist
database = Database.from_settings(settings.database, settings.storage.dir)  # connects on first use
app = create_app(settings, database if database.dialect == "postgresql" else None)  # replicas share rate limits through PostgreSQL


def depends_on_enabled_models(service: type) -> type:
    """One runner dependency per enabled TTS model (`runners/tts_runner.py`), named from the
    family table; disabled models' runners never start."""
    for name in ENABLED_MODELS:
        setattr(service, FAMILIES[name].runner_attribute, bentoml.depends(TTS_RUNNERS[name]))
    return service


@bentoml.service(name="chatterbox", workers=1, traffic={"timeout": 3600})
@bentoml.asgi_app(app, path="/")
@depends_on_enabled_models
class ChatterboxService:
    vc_runner = bentoml.depends(VCRunner)

    def __init__(self) -> None:
        storage = create_storage(settings.storage)
        self.database = database
        self.schema = Schema(self.database)
        self.schema.start()  # migrated before the first request where the database answers
        idempotency = app.state.idempotency = IdempotencyStore(self.database, timedelta(hours=settings.idempotency.ttl_hours))
        self.library = VoiceLibrary(VoiceStore(storage, settings.voices.read_workers), self.database, settings.voices)
        voices_in_use = VoicesInUse(self.forget_conditioning)
        voices = VoiceServing(settings, self.library, voices_in_use.forget)
        self.output_library = OutputLibrary(OutputStore(storage, settings.voices.read_workers), self.database, settings.outputs)
        outputs = OutputServing(self.output_library, settings.outputs)
        drain = Drain(settings.shutdown.drain_seconds)
        drain.install()
        models = ModelRunners(self.runner, ENABLED_MODELS, settings.model.default)
        runners = RunnerCalls(drain)
        results = GenerationResults(self.output_library)
        slots = AdmissionSlots(settings.limits.max_pending_generations)
        drain.on_start(slots.close)
        speech = SpeechServing(settings, voices, models, runners, results, slots, voices_in_use)
        self.jobs = JobQueue(self.database, settings.concat)
        job_serving = JobServing(settings.concat, self.jobs, self.output_library)
        resolver = VoiceResolver(settings.openai, voices, PredefinedVoices(settings.openai.predefined_voices_dir, settings.limits))
        app.state.serving = Serving(
            health=HealthServing(models, storage, self.schema, drain, slots),
            speech=speech,
            vc=VCServing(settings, voices, models, runners, results, slots, voices_in_use),
            voices=voices,
            voice_uploads=VoiceUploads(voices),
            voice_backups=VoiceBackups(voices),
            concat=(concat := ConcatServing(settings, self.output_library, outputs, self.library, self.jobs, job_serving)),
            jobs=job_serving,
            openai=OpenAIServing(settings.openai, speech, runners, models, resolver),
            outputs=outputs,
            realtime=RealtimeServing(speech, settings.realtime),
        )
        self.library.start()
        self.output_library.start()
        self.jobs.start(concat)  # this replica runs queued jobs too, whoever queued them
        expiring = [idempotency.expire, *(shared.expire for shared in app.state.shared_buckets)]
        self.expiry = PeriodicTasks("expiry", [Task(f"expire-{n}", lambda: EXPIRY_SECONDS, work) for n, work in enumerate(expiring)])
        self.expiry.start()
        logger.info("api service ready", extra={"storage": settings.storage.backend, "database": self.database.location})

    @bentoml.on_shutdown
    def shut_down(self) -> None:
        """After the drain (`lifecycle.drain`): the jobs running here stop (temp files
        removed) and go back to the queue for another replica, use counts copied to storage, the database's connections closed."""
        self.expiry.stop()
        self.jobs.close()
        self.library.close()
        self.output_library.close()
        self.schema.close()
        self.database.close()

    def runner(self, name: str) -> ModelRunner:
        """A runner as the API calls it: an enabled TTS model's (by name), or "vc"."""
        if name == "vc":
            return ModelRunner(name, RunnerStages(self.vc_runner.to_async.tokenize, self.vc_runner.to_async.render), self.vc_runner.to_async.info)
        runner = getattr(self, FAMILIES[name].runner_attribute)
        return ModelRunner(name, RunnerStages(runner.to_async.decode, runner.to_async.render, runner.to_async.stream), runner.to_async.info)

    async def forget_conditioning(self, content_hashes: list[str]) -> None:
        """Best effort: a runner that misses this evicts the entry by LRU; no record points to it."""
        for runner in (*(getattr(self, FAMILIES[name].runner_attribute) for name in ENABLED_MODELS), self.vc_runner):
            try:
                await runner.to_async.forget(content_hashes)
            except Exception:
                logger.exception("could not evict voice conditionals from a runner")


ChatterboxService.add_asgi_middleware(NewlinePaths)


# two fixes to BentoML's HTTP middleware, in place before it builds the apps (see each module)
install_route_labels(RouteTemplates(lambda: app.openapi()["paths"]), ChatterboxService.name)
install_request_timeout()
