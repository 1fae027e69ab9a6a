"""The Chatterbox API service: HTTP routes composed with the TTS and VC model runners.

Routes are thin: they declare the HTTP shape (FastAPI does the parsing and validation) and
hand over to the serving classes in `api/` (`*_serving.py`). The runners are separate BentoML services reached
through `bentoml.depends`, so `bentoml serve` starts all three and adaptive batching merges
concurrent requests.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

import bentoml
from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from api import __version__, studio
from api.admission import AdmissionSlots
from api.body_limits import BodyLimits, RequestBodyLimit
from api.concat_serving import ConcatServing
from api.errors import APIError, error_response, install_error_handlers, is_openai_path, validated
from api.health_serving import HealthServing
from api.idempotency import Idempotency
from api.metrics_labels import RouteTemplates
from api.metrics_labels import install as install_route_labels
from api.middleware import APIKeyAuth, NewlinePaths, RateLimit
from api.openai_protocol import ModelList, ModelObject, OpenAIErrorResponse, SpeechRequest, VoiceListing
from api.openai_serving import OpenAIServing
from api.output_saving import OutputSaver
from api.output_serving import OutputServing
from api.protocol import (
    BulkVoiceResponse,
    DeletedOutput,
    DeletedVoices,
    DeletionPreview,
    ErrorResponse,
    HealthResponse,
    ImportResponse,
    JobResponse,
    OnConflict,
    OutputListResponse,
    OutputLookupRequest,
    OutputLookupResponse,
    OutputResponse,
    ResponseMode,
    SampleRateField,
    TTSRequest,
    VoiceListResponse,
    VoiceResponse,
)
from api.rate_limits import TokenBuckets
from api.request_ids import RequestIds
from api.request_timeout import install as install_request_timeout
from api.runner_calls import ModelRunner, RunnerCalls, RunnerStages, TTSModels
from api.runner_voices import VoicesInUse
from api.speech_serving import SpeechServing
from api.vc_serving import VCForm, VCServing
from api.voice_resolution import PredefinedVoices, VoiceResolver
from api.voice_serving import VoiceServing
from audio.formats import SAMPLE_RATES, OutputFormat
from concat.jobs import JobManager
from concat.protocol import ConcatRequest
from config import get_settings
from config.logs import configure_logging
from config.settings import ModelName
from lifecycle.drain import Drain
from outputs.library import OutputLibrary
from outputs.query import MAX_PAGE_SIZE as MAX_OUTPUTS_PAGE_SIZE
from outputs.query import OutputListQuery, OutputSortKey
from outputs.store import OutputStore, OutputType
from runners.tts_runner import MultilingualRunner, TTSRunner, TurboRunner
from runners.vc_runner import VCRunner
from storage import create_storage
from storage.idempotency import IdempotencyStore
from storage.upkeep import Task, Upkeep
from voices.library import VoiceLibrary
from voices.metadata import VoiceDefaults, VoiceMetadataPatch
from voices.query import MAX_PAGE_SIZE, FolderNode, SortKey, VoiceFilter, VoiceListQuery, VoiceStats
from voices.store import VoiceStore

logger = logging.getLogger(__name__)
settings = get_settings()
configure_logging(settings.logging.level)
ENABLED_MODELS: list[ModelName] = settings.model.enabled  # fixed at import: BentoML reads the runner dependencies from the class
RUNNER_ATTRIBUTES: dict[ModelName, str] = {"original": "tts_runner", "multilingual": "multilingual_runner", "turbo": "turbo_runner"}

ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 422, 429, 500, 503)}  # 401 with API keys on, 429 past a rate limit
VOICE_ERRORS = {**ERRORS, 412: {"model": ErrorResponse}}
DELETE_ERRORS = {**ERRORS, 400: {"model": DeletionPreview | ErrorResponse, "description": "Without confirm=true: what would be deleted (nothing is); or a malformed request."}}
_NAIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
ARCHIVE_ROUTES = ("/api/v1/voices/bulk", "/api/v1/voices/import", "/api/v1/concat")  # multipart bodies of archives, or of many uploads
IDEMPOTENCY_EXPIRY_SECONDS = 600
AUDIO_RESPONSE = {"content": {fmt.content_type: {} for fmt in OutputFormat}}  # found by the fuzzer: this listed only the last type
OPENAI_ERRORS = {status: {"model": OpenAIErrorResponse} for status in (400, 401, 404, 429, 500, 503)}
SPEECH_RESPONSE = {
    "description": "The audio, sent while it is generated (chunked); with stream_format=sse, server-sent events.",
    "content": {content_type: {} for content_type in ("audio/mpeg", "audio/opus", "audio/aac", "audio/flac", "audio/wav", "audio/pcm", "text/event-stream")},
}

app = FastAPI(
    title="Chatterbox TTS Extended Plus",
    version=__version__,
    description="Text-to-speech with zero-shot voice cloning and voice conversion, built on Resemble AI's Chatterbox.",
)
install_error_handlers(app)
studio.install(app, settings.studio)  # the web page at /studio (api/studio.py)


app.add_middleware(
    RequestBodyLimit,
    limits=BodyLimits(
        json_bytes=settings.limits.max_json_bytes, upload_bytes=settings.limits.max_upload_bytes,
        archive_bytes=settings.limits.max_archive_bytes, archive_routes=ARCHIVE_ROUTES,
    ),
)
app.add_middleware(Idempotency, keyed=bool(settings.auth.api_keys))  # inside the limits: a refused request is not kept
limits = settings.rate_limits
if limits.requests_per_second > 0:
    app.add_middleware(
        RateLimit, buckets=TokenBuckets(limits.requests_per_second, limits.burst), keyed=bool(settings.auth.api_keys), trust_forwarded_for=limits.trust_forwarded_for,
    )
app.add_middleware(  # before the body is read: a request without a key is refused first
    APIKeyAuth, api_keys=settings.auth.api_keys, failures=TokenBuckets(limits.failed_auth_per_minute / 60, limits.failed_auth_burst),
    trust_forwarded_for=limits.trust_forwarded_for,
)
app.add_middleware(RequestIds)  # outermost: every answer carries its request id


def split_tags(tags: list[str] | None) -> list[str] | None:
    """Tags from repeated form fields, each of which may hold several separated by commas."""
    if tags is None:
        return None
    return [tag for field in tags for tag in field.split(",") if tag.strip()]


def output_query_of(
    search: str | None = Query(None, description="Words that must all appear in the file name or the metadata's text (case-insensitive)."),
    type: list[OutputType] = Query([], description="Repeatable: tts, vc, concat."),
    voice: str | None = Query(None, description="Only outputs made with this voice."),
    created_after: str | None = Query(None, description="ISO 8601 time or date (UTC when no offset is given)."),
    created_before: str | None = Query(None, description="ISO 8601 time or date: outputs created before it."),
    names: list[str] = Query([], description="Repeatable: bulk lookup of these file names."),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=MAX_OUTPUTS_PAGE_SIZE),
    sort: OutputSortKey = Query("created"),
    order: Literal["asc", "desc"] = Query("desc"),
) -> OutputListQuery:
    data = {
        "search": search, "types": type, "voice": voice, "created_after": as_utc(created_after), "created_before": as_utc(created_before),
        "names": names, "page": page, "page_size": page_size, "sort": sort, "order": order,
    }
    return validated(OutputListQuery, data, "query", aliases={"types": "type"})


def as_utc(moment: str | None) -> str | None:
    """A bare date or a time without an offset is read as UTC (dates and times compare)."""
    if moment is None or not _NAIVE_TIME.match(moment):
        return moment
    return moment + ("T00:00:00Z" if len(moment) == 10 else "Z")


CONCAT_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConcatRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "request": {"type": "string", "description": "The ConcatRequest as JSON; uploads are inputs {\"upload\": <file name or position>}."},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}


def openapi_with_concat_models() -> dict:
    """The route reads its body itself (JSON or multipart), so FastAPI does not see the model:
    add it to the document's components for the requestBody above to point at."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema = ConcatRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        document["components"]["schemas"].update(schema.pop("$defs", {}) | {"ConcatRequest": schema})
        app.openapi_schema = document
    return app.openapi_schema


app.openapi = openapi_with_concat_models  # type: ignore[method-assign]


async def concat_request_of(request: Request) -> tuple[ConcatRequest, list[UploadFile]]:
    """A JSON body, or a multipart form: `request` (the same JSON) plus `files`. A body of up
    to `limits.max_json_bytes` with thousands of inputs is parsed and validated in the
    thread pool, not on the event loop every other request shares."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=settings.limits.max_bulk_files, max_fields=20)
        files = [part for part in form.getlist("files") if isinstance(part, StarletteUploadFile)]
        raw = form.get("request")
        if raw is None:
            return validated(ConcatRequest, {"inputs": [{"upload": i} for i in range(len(files))]}, "body"), files
        if not isinstance(raw, str):
            raise APIError(422, "request: send the options as a JSON text field, not a file", field="request")
        return await run_in_threadpool(lambda: validated(ConcatRequest, parse_json(raw, "request"), "body")), files
    if content_type.startswith("application/json"):
        body = await request.body()
        return await run_in_threadpool(lambda: validated(ConcatRequest, parse_json(body.decode(errors="replace"), "body"), "body")), []
    raise APIError(415, "send the request as application/json, or as multipart/form-data with `request` and `files`", error_type="unsupported_media_type")


def parse_json(text: str, field: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise APIError(400, f"{field}: not valid JSON ({exc})", field=None if field == "body" else field) from None
    if not isinstance(data, dict):
        raise APIError(422, f"{field}: expected a JSON object with `inputs`", field=None if field == "body" else field)
    return data


def voice_filter_of(
    search: str | None = Query(None, description="Words that must all appear in the name, display name, description or tags."),
    folder: str | None = Query(None, description="Only voices in this folder ('' is the top level)."),
    include_subfolders: bool = Query(True, description="With `folder`: include its subfolders."),
    tag: list[str] = Query([], description="Repeatable: voices carrying every one of these tags."),
    name: list[str] = Query([], description="Repeatable: only these voices."),
) -> VoiceFilter:
    data = {"search": search, "folder": folder, "include_subfolders": include_subfolders, "tags": tag, "names": name}
    return validated(VoiceFilter, data, "query", aliases={"tags": "tag", "names": "name"})


@bentoml.service(name="chatterbox", workers=1, traffic={"timeout": 3600})
@bentoml.asgi_app(app, path="/")
class ChatterboxService:
    # one runner service per enabled TTS model (runners/tts_runner.py): disabled ones never start
    if "original" in ENABLED_MODELS:
        tts_runner = bentoml.depends(TTSRunner)
    if "multilingual" in ENABLED_MODELS:
        multilingual_runner = bentoml.depends(MultilingualRunner)
    if "turbo" in ENABLED_MODELS:
        turbo_runner = bentoml.depends(TurboRunner)
    vc_runner = bentoml.depends(VCRunner)

    def __init__(self) -> None:
        storage = create_storage(settings.storage)
        idempotency = app.state.idempotency = IdempotencyStore(storage, timedelta(hours=settings.idempotency.ttl_hours))
        self.library = VoiceLibrary(VoiceStore(storage, settings.voices.read_workers), settings.voices)
        voices_in_use = VoicesInUse(self.forget_conditioning)
        self.voices = VoiceServing(settings, self.library, voices_in_use.forget)
        self.output_library = OutputLibrary(OutputStore(storage, settings.voices.read_workers), settings.outputs)
        self.outputs = OutputServing(self.output_library, settings.outputs)
        self.drain = Drain(settings.shutdown.drain_seconds)
        self.drain.install()
        runners = RunnerCalls(self.drain)
        saver = OutputSaver(self.output_library)
        slots = AdmissionSlots(settings.limits.max_pending_generations)
        self.drain.on_start(slots.close)
        self.tts_models = TTSModels(self.model_runner, ENABLED_MODELS, settings.model.default)
        self.speech_serving = SpeechServing(settings, self.voices, runners, saver, slots, voices_in_use)
        self.vc_serving = VCServing(settings, self.voices, runners, saver, slots, voices_in_use)
        self.health_serving = HealthServing(storage, self.library, self.output_library, self.drain, slots)
        self.jobs = JobManager(storage, settings.concat)
        self.concat_serving = ConcatServing(settings, self.output_library, self.outputs, self.library, self.jobs)
        resolver = VoiceResolver(settings.openai, self.voices, PredefinedVoices(settings.openai.predefined_voices_dir, settings.limits))
        self.openai = OpenAIServing(settings.openai, self.speech_serving, runners, self.tts_models, resolver)
        for library in (self.library, self.output_library):
            try:
                report = library.sync()
                logger.info(f"{library.label} loaded", extra={"entries": report.entries, "seconds": report.seconds})
            except Exception:  # storage down at start-up: serve anyway, upkeep retries, /health says why
                logger.exception(f"{library.label} could not be loaded; retrying in the background")
        self.library.start()
        self.output_library.start()
        self.jobs.start()
        self.expiry = Upkeep("idempotency", [Task("expire", lambda: IDEMPOTENCY_EXPIRY_SECONDS, idempotency.expire)])
        self.expiry.start()
        logger.info("api service ready", extra={"storage": settings.storage.backend})

    @bentoml.on_shutdown
    def shut_down(self) -> None:
        """After the drain (`lifecycle.drain`): running jobs are cancelled (temp files
        removed), counters and snapshots flushed."""
        self.expiry.stop()
        self.jobs.close()
        self.library.close()
        self.output_library.close()

    def _tts_runners(self) -> dict[ModelName, Any]:
        return {name: getattr(self, RUNNER_ATTRIBUTES[name]) for name in ENABLED_MODELS}

    def model_runner(self, name: ModelName) -> ModelRunner:
        runner = getattr(self, RUNNER_ATTRIBUTES[name])
        return ModelRunner(name, RunnerStages(runner.to_async.decode, runner.to_async.render), runner.to_async.info)

    @property
    def vc_stages(self) -> RunnerStages:
        return RunnerStages(self.vc_runner.to_async.tokenize, self.vc_runner.to_async.render)

    async def forget_conditioning(self, content_hashes: list[str]) -> None:
        """Best effort: a runner that misses this evicts the entry by LRU; no record points to it."""
        for runner in (*self._tts_runners().values(), self.vc_runner):
            try:
                await runner.to_async.forget(content_hashes)
            except Exception:
                logger.exception("could not evict voice conditionals from a runner")

    @app.get("/api/v1/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health(self) -> JSONResponse:
        """Version, the model source actually loaded (so `random` is never hidden), device,
        storage backend, and readiness (503 until every part is ready)."""
        infos = {name: runner.to_async.info for name, runner in self._tts_runners().items()}
        body, status = await self.health_serving.health(infos, settings.model.default, self.vc_runner.to_async.info)
        return JSONResponse(body.model_dump(mode="json"), status_code=status)

    @app.post("/api/v1/tts", response_model=OutputResponse, responses={**ERRORS, 200: AUDIO_RESPONSE})
    async def tts(self, request: Request, body: TTSRequest) -> Response:
        """Speak `text` in a library voice (or the built-in one)."""
        return await self.speech_serving.tts(request, body, self.tts_models)

    @app.post("/api/v1/vc", response_model=OutputResponse, responses={**ERRORS, 200: AUDIO_RESPONSE})
    async def vc(
        self,
        request: Request,
        input_audio: UploadFile | None = File(None, description="Source speech to convert (upload)."),
        input_filename: str | None = Form(None, description="Or: a stored output to convert."),
        target_voice: str | None = Form(None, description="Target voice name from the library."),
        target_audio: UploadFile | None = File(None, description="Or: a target voice recording (upload)."),
        output_format: OutputFormat = Form(OutputFormat.wav),
        sample_rate: int | None = Form(None, description=f"Output sample rate, one of {', '.join(map(str, SAMPLE_RATES))}; omitted: the configured one, else 24000."),
        response_mode: ResponseMode = Form("url"),
    ) -> Response:
        """Say the source speech again in the target voice."""
        rate = validated(SampleRateField, {"sample_rate": sample_rate}, "body").sample_rate
        form = VCForm(input_audio, input_filename, target_voice, target_audio, output_format, rate, response_mode)
        return await self.vc_serving.vc(request, form, self.vc_stages, self.vc_runner.to_async.info)

    # --- voice library ------------------------------------------------------------------

    @app.post("/api/v1/voice", response_model=VoiceResponse, status_code=201, responses=VOICE_ERRORS)
    async def upload_voice(
        self,
        name: str = Form(..., description="Voice name used by `voice` in TTS (unique ignoring case)."),
        file: UploadFile | None = File(None, description="Voice reference: wav, mp3, flac, ogg/opus or m4a, 1 s or longer. Omit to update metadata only."),
        overwrite: bool = Form(False, description="Replace the audio of an existing voice of the same name."),
        display_name: str | None = Form(None),
        description: str | None = Form(None),
        tags: list[str] | None = Form(None, description="Repeat the field, or separate tags with commas."),
        folder: str | None = Form(None, description="Folder path such as `narrators/en`; '' is the top level."),
        exaggeration: float | None = Form(None, description="Default exaggeration for this voice."),
        cfg_weight: float | None = Form(None, description="Default cfg_weight for this voice."),
        temperature: float | None = Form(None, description="Default temperature for this voice."),
        speed_factor: float | None = Form(None, description="Default speed factor for this voice."),
        language: str | None = Form(None, description="Default language (ISO 639-1) for the multilingual model with this voice."),
    ) -> Response:
        """Add a voice (201), replace its audio with overwrite=true (200), or, without a file,
        update the metadata of an existing voice (200)."""
        given = {"exaggeration": exaggeration, "cfg_weight": cfg_weight, "temperature": temperature, "speed_factor": speed_factor, "language": language}
        defaults = validated(VoiceDefaults, {k: v for k, v in given.items() if v is not None}, "body")
        fields = {"display_name": display_name, "description": description, "folder": folder, "tags": split_tags(tags)}
        patch_data = {k: v for k, v in fields.items() if v is not None} | ({"defaults": defaults} if defaults.model_fields_set else {})
        return await self.voices.upload(file, name, validated(VoiceMetadataPatch, patch_data, "body"), overwrite)

    @app.post("/api/v1/voices/bulk", response_model=BulkVoiceResponse, responses=ERRORS)
    async def bulk_upload_voices(
        self,
        files: list[UploadFile] = File([], description="Audio files; each becomes a voice named after the file."),
        archive: UploadFile | None = File(None, description="Or a zip of audio files; its subfolders become folders."),
        folder: str = Form("", description="Folder for every voice (zip subfolders go below it)."),
        tags: list[str] | None = Form(None, description="Tags for every voice."),
        overwrite: bool = Form(False, description="Replace voices that already exist (otherwise they fail with 409)."),
    ) -> BulkVoiceResponse:
        """Upload many voices at once; each file gets its own result, one bad file fails alone."""
        patch = validated(VoiceMetadataPatch, {"folder": folder, "tags": split_tags(tags) or []}, "body")
        return await self.voices.bulk_upload(files, archive, patch.folder or "", patch.tags or [], overwrite)

    @app.get("/api/v1/voices", response_model=VoiceListResponse, responses=ERRORS)
    async def list_voices(
        self,
        voice_filter: Annotated[VoiceFilter, Depends(voice_filter_of)],
        page: int = Query(1, ge=1),
        page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
        sort: SortKey = Query("name"),
        order: Literal["asc", "desc"] = Query("asc"),
    ) -> VoiceListResponse:
        """Search, filter, sort and page the library (served from the in-memory index)."""
        query = VoiceListQuery(**voice_filter.model_dump(), page=page, page_size=page_size, sort=sort, order=order)
        return await self.voices.list(query)

    @app.delete("/api/v1/voices", response_model=DeletedVoices, responses=DELETE_ERRORS)
    async def delete_voices(
        self,
        voice_filter: Annotated[VoiceFilter, Depends(voice_filter_of)],
        all: bool = Query(False, description="Select every voice (when no other filter is given)."),
        confirm: bool = Query(False, description="Without it nothing is deleted: a 400 lists what would be."),
    ) -> DeletedVoices:
        """Delete the voices a filter selects (audio, record and cached conditioning)."""
        return await self.voices.delete_many(voice_filter, all, confirm)

    @app.get("/api/v1/voices/folders", response_model=FolderNode, responses=ERRORS)
    async def voice_folders(self) -> FolderNode:
        """The folder tree, with voices directly in each folder and in all below it."""
        return await self.voices.folders()

    @app.get("/api/v1/voices/stats", response_model=VoiceStats, responses=ERRORS)
    async def voice_stats(self, limit: int = Query(20, ge=1, le=1000, description="Entries in the most/never used lists.")) -> VoiceStats:
        """Usage: most used, never used (oldest first), per folder. TTS and VC count uses."""
        return await self.voices.stats(limit)

    @app.get("/api/v1/voices/export", responses={**ERRORS, 200: {"content": {"application/zip": {}}}})
    async def export_voices(self, voice_filter: Annotated[VoiceFilter, Depends(voice_filter_of)]) -> Response:
        """Stream a zip of the selected voices (all by default): audio, records, checksummed manifest."""
        return await self.voices.export(voice_filter)

    @app.post("/api/v1/voices/import", response_model=ImportResponse, responses=ERRORS)
    async def import_voices(
        self,
        archive: UploadFile = File(..., description="A zip made by GET /api/v1/voices/export."),
        on_conflict: OnConflict = Form("skip", description="When a voice of that name exists: skip it, overwrite it, or import under a new name."),
    ) -> ImportResponse:
        """Restore voices from an export, verifying every checksum; one result per voice."""
        return await self.voices.import_(archive, on_conflict)

    @app.get("/api/v1/voice/{name}", response_model=VoiceResponse, responses=VOICE_ERRORS)
    async def get_voice(self, name: str) -> Response:
        """One voice's record; the `ETag` header is what PUT .../metadata takes as If-Match."""
        return await self.voices.get(name)

    @app.get("/api/v1/voice/{name}/audio", responses={**ERRORS, 200: {"content": {"audio/*": {}}}})
    async def get_voice_audio(
        self, name: str, variant: Literal["original", "reference"] = Query("original", description="The upload as sent, or the 24 kHz mono WAV used for conditioning.")
    ) -> Response:
        """Download a voice's audio."""
        return await self.voices.audio(name, variant)

    @app.put("/api/v1/voice/{name}/metadata", response_model=VoiceResponse, responses=VOICE_ERRORS)
    async def update_voice_metadata(
        self, name: str, patch: VoiceMetadataPatch,
        if_match: str | None = Header(None, description="The voice's ETag: the update fails with 412 if the voice changed since."),
    ) -> Response:
        """Change some fields (rename and move included); with If-Match, only if unchanged."""
        return await self.voices.update(name, patch, if_match)

    @app.delete("/api/v1/voice/{name}", response_model=DeletedVoices, responses=DELETE_ERRORS)
    async def delete_voice(self, name: str, confirm: bool = Query(False, description="Without it nothing is deleted: a 400 says what would be.")) -> DeletedVoices:
        """Delete one voice: audio, record and cached conditioning."""
        return await self.voices.delete(name, confirm)

    # --- concatenation and jobs ---------------------------------------------------------

    @app.post(
        "/api/v1/concat", response_model=OutputResponse, status_code=200,
        responses={**ERRORS, 200: AUDIO_RESPONSE, 202: {"model": JobResponse, "description": "A long job: follow it at `url`."}},
        openapi_extra=CONCAT_REQUEST_BODY,
    )
    async def concat(self, request: Request) -> Response:
        """Join stored outputs, voices, uploads and silences into one output of type `concat`.
        JSON body, or multipart with the same JSON in a `request` field plus `files` (uploads
        alone, without `request`, are joined in the order sent)."""
        body, files = await concat_request_of(request)
        return await self.concat_serving.concat(request, body, files)

    @app.get("/api/v1/jobs/{job_id}", response_model=JobResponse, responses=ERRORS, name="get_job")
    async def get_job(self, request: Request, job_id: str) -> JobResponse:
        """A background job's status and progress (segments done, percent, time remaining),
        and its output once it succeeded. Any replica answers."""
        return await self.concat_serving.job(request, job_id)

    @app.delete("/api/v1/jobs/{job_id}", response_model=JobResponse, responses=ERRORS)
    async def cancel_job(self, request: Request, job_id: str) -> JobResponse:
        """Cancel a queued or running job (its temp files are removed; nothing is stored)."""
        return await self.concat_serving.cancel(request, job_id)

    # --- OpenAI-compatible routes ------------------------------------------------------

    @app.post("/v1/audio/speech", tags=["OpenAI"], response_class=Response, responses={**OPENAI_ERRORS, 200: SPEECH_RESPONSE})
    async def openai_speech(self, request: Request, body: SpeechRequest) -> Response:
        """OpenAI's `audio.speech.create`: the audio streams while it is generated. Headers
        `X-Voice-Resolved`/`X-Voice-Source` say which voice spoke; `X-Output-Filename` where
        the stored copy will be once the stream completed."""
        return await self.openai.speech(request, body)

    @app.get("/v1/models", tags=["OpenAI"], response_model=ModelList, responses=OPENAI_ERRORS)
    async def openai_models(self) -> ModelList:
        """The accepted `model` names: those of `openai.model_map` whose Chatterbox model is enabled."""
        return self.openai.models()

    @app.get("/v1/models/{model}", tags=["OpenAI"], response_model=ModelObject, responses=OPENAI_ERRORS)
    async def openai_model(self, model: str) -> ModelObject:
        return self.openai.model_object(model)

    @app.get("/v1/audio/voices", tags=["OpenAI"], response_model=VoiceListing, responses=OPENAI_ERRORS)
    async def openai_voices(self) -> VoiceListing:
        """The names `voice` accepts: library voices, aliases, predefined files, and what any
        other name falls back to."""
        return await self.openai.voices()

    # --- outputs ------------------------------------------------------------------------

    @app.get("/api/v1/outputs", response_model=OutputListResponse, responses=ERRORS)
    async def list_outputs(self, query: Annotated[OutputListQuery, Depends(output_query_of)]) -> OutputListResponse:
        """Browse generated files (served from the in-memory index): search, filters, sort,
        pages; with `names`, a bulk lookup that also says which names are missing."""
        return await self.outputs.list(query)

    @app.post("/api/v1/outputs/lookup", response_model=OutputLookupResponse, responses=ERRORS)
    async def lookup_outputs(self, body: OutputLookupRequest) -> OutputLookupResponse:
        """Bulk lookup for lists too long for a URL: the companions of the named outputs."""
        return await self.outputs.lookup(body.names)

    @app.api_route("/api/v1/outputs/{filename}", methods=["GET", "HEAD"], name="download_output", operation_id="download_output", responses={**ERRORS, 200: AUDIO_RESPONSE, 206: AUDIO_RESPONSE, 416: {"model": ErrorResponse}})
    async def download_output(
        self, request: Request, filename: str, range: str | None = Header(None, description="One byte range, e.g. `bytes=0-1023`: answered with 206 (seeking)."),
    ) -> Response:
        """Download a stored output, whole or one byte range (HEAD: the headers only)."""
        return await self.outputs.download(filename, range, head=request.method == "HEAD")

    @app.delete("/api/v1/outputs/{filename}", response_model=DeletedOutput, responses=ERRORS)
    async def delete_output(self, filename: str) -> DeletedOutput:
        """Delete an output: its audio and its JSON companion."""
        return await self.outputs.delete(filename)


ChatterboxService.add_asgi_middleware(NewlinePaths)


@app.api_route("/api/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@app.api_route("/v1/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_route(request: Request) -> JSONResponse:
    """BentoML answers unmatched paths itself, in plain text; claiming /api/ and /v1/ here
    keeps every answer in the API's error shape, OpenAI's on /v1/ (a 405 where the path
    exists with other methods)."""
    allowed = sorted(
        {method for route in app.routes if isinstance(route, APIRoute) and route.endpoint is not unknown_route and route.path_regex.match(request.url.path) for method in route.methods}
    )
    openai = is_openai_path(request.url.path)
    if allowed:
        return error_response(405, "invalid_request_error", f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}", openai=openai)
    return error_response(404, "not_found", f"no route {request.method} {request.url.path}; see /docs", openai=openai)


# two fixes to BentoML's HTTP middleware, in place before it builds the apps (see each module)
install_route_labels(RouteTemplates(lambda: app.openapi()["paths"]), ChatterboxService.name)
install_request_timeout()
