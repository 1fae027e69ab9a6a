"""The Chatterbox API service: HTTP routes composed with the TTS and VC model runners.

Routes are thin: they declare the HTTP shape (FastAPI does the parsing and validation) and
hand over to `api.serving.Serving`. The runners are separate BentoML services reached
through `bentoml.depends`, so `bentoml serve` starts all three and adaptive batching merges
concurrent requests.
"""

from __future__ import annotations

import logging

import bentoml
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from api import __version__
from api.errors import error_response, install_error_handlers
from api.protocol import ErrorResponse, HealthResponse, OutputResponse, ResponseMode, TTSRequest, VoiceResponse
from api.serving import Serving
from audio.formats import OutputFormat
from config import get_settings
from runners.tts_runner import TTSRunner
from runners.vc_runner import VCRunner
from storage import create_storage

logger = logging.getLogger(__name__)
settings = get_settings()

ERRORS = {status: {"model": ErrorResponse} for status in (400, 404, 409, 413, 422, 500, 503)}
AUDIO_RESPONSE = {"content": {fmt.content_type: {}} for fmt in OutputFormat}

app = FastAPI(
    title="Chatterbox TTS Extended Plus",
    version=__version__,
    description="Text-to-speech with zero-shot voice cloning and voice conversion, built on Resemble AI's Chatterbox.",
)
install_error_handlers(app)


class RequestSizeLimit(BaseHTTPMiddleware):
    """Refuse bodies larger than two uploads before Starlette spools them to disk."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        limit = 2 * settings.limits.max_upload_bytes + (1 << 20)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return error_response(413, "payload_too_large", f"request body exceeds {limit} bytes")
        return await call_next(request)


app.add_middleware(RequestSizeLimit)


@bentoml.service(name="chatterbox", workers=1, traffic={"timeout": 3600})
@bentoml.asgi_app(app, path="/")
class ChatterboxService:
    tts_runner = bentoml.depends(TTSRunner)
    vc_runner = bentoml.depends(VCRunner)

    def __init__(self) -> None:
        self.serving = Serving(settings, create_storage(settings.storage))
        logger.info("api service ready", extra={"storage": settings.storage.backend})

    @app.get("/api/v1/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health(self) -> JSONResponse:
        """Version, the model source actually loaded (so `random` is never hidden), device,
        storage backend, and readiness (503 until every part is ready)."""
        body, status = await self.serving.health(self.tts_runner.to_async.info, self.vc_runner.to_async.info)
        return JSONResponse(body.model_dump(mode="json"), status_code=status)

    @app.post("/api/v1/tts", response_model=OutputResponse, responses={**ERRORS, 200: AUDIO_RESPONSE})
    async def tts(self, request: Request, body: TTSRequest) -> Response:
        """Speak `text` in a library voice (or the built-in one)."""
        return await self.serving.tts(request, body, self.tts_runner.to_async.synthesize, self.tts_runner.to_async.info)

    @app.post("/api/v1/vc", response_model=OutputResponse, responses={**ERRORS, 200: AUDIO_RESPONSE})
    async def vc(
        self,
        request: Request,
        input_audio: UploadFile | None = File(None, description="Source speech to convert (upload)."),
        input_filename: str | None = Form(None, description="Or: a stored output to convert."),
        target_voice: str | None = Form(None, description="Target voice name from the library."),
        target_audio: UploadFile | None = File(None, description="Or: a target voice recording (upload)."),
        output_format: OutputFormat = Form(OutputFormat.wav),
        response_mode: ResponseMode = Form("url"),
    ) -> Response:
        """Say the source speech again in the target voice."""
        return await self.serving.vc(
            request, self.vc_runner.to_async.convert, self.vc_runner.to_async.info,
            input_audio=input_audio, input_filename=input_filename, target_voice=target_voice,
            target_audio=target_audio, output_format=output_format, response_mode=response_mode,
        )

    @app.post("/api/v1/voice", response_model=VoiceResponse, status_code=201, responses=ERRORS)
    async def upload_voice(
        self,
        file: UploadFile = File(..., description="Voice reference: wav, mp3, flac, ogg/opus or m4a, 1 s or longer."),
        name: str = Form(..., description="Voice name used by `voice` in TTS."),
        overwrite: bool = Form(False, description="Replace an existing voice of the same name."),
    ) -> JSONResponse:
        """Add a voice to the library (201), or replace one with overwrite=true (200)."""
        record, created = await self.serving.upload_voice(file, name, overwrite)
        return JSONResponse(VoiceResponse(voice=record, created=created).model_dump(mode="json"), status_code=201 if created else 200)

    @app.api_route("/api/v1/outputs/{filename}", methods=["GET", "HEAD"], name="download_output", operation_id="download_output", responses={404: {"model": ErrorResponse}, 200: AUDIO_RESPONSE})
    async def download_output(self, filename: str) -> Response:
        """Download a stored output."""
        return await self.serving.download(filename)
