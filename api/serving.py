"""Serving logic behind the routes: validate, resolve voices, call the runners, store.

Blocking work (storage I/O, decoding, encoding) runs in the thread pool so one slow S3 call
or ffmpeg encode never stalls the event loop that every other request shares.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import __version__
from api.errors import APIError
from api.protocol import (
    DEFAULT_CFG_WEIGHT,
    DEFAULT_EXAGGERATION,
    DEFAULT_TEMPERATURE,
    HealthResponse,
    ModelHealth,
    OutputResponse,
    ResponseMode,
    StorageHealth,
    TTSRequest,
    VoiceIndexHealth,
)
from api.uploads import check_duration, read_audio_upload
from api.voices import VoiceServing
from audio.codec import AudioDecodeError, decode, encode
from audio.formats import CONTENT_TYPE_BY_EXTENSION, OutputFormat
from config import Settings
from models.jobs import AudioPayload, JobResult, RunnerInfo, TTSJob, VCJob, VoiceReference
from storage import ObjectNotFoundError, Storage, StorageError
from storage.outputs import OutputMetadata, OutputStore, OutputType, is_output_name, new_output_name
from voices.metadata import VoiceDefaults

logger = logging.getLogger(__name__)

VC_SOURCE_SAMPLE_RATE = 16_000  # what S3Gen's tokenizer consumes
RunnerCall = Callable[[list[Any]], Awaitable[list[JobResult]]]
RunnerInfoCall = Callable[[], Awaitable[RunnerInfo]]


def first_given(*values: float | None) -> float:
    """The request's value, else the voice's default, else the service default."""
    return next(value for value in values if value is not None)


class Serving:
    def __init__(self, settings: Settings, storage: Storage, voices: VoiceServing) -> None:
        self.settings = settings
        self.storage = storage
        self.voices = voices
        self.outputs = OutputStore(storage)
        self._model_source: dict[str, str] = {}

    # --- generation -------------------------------------------------------------------

    async def _run(self, call: RunnerCall, job: Any, kind: str, voice_field: str) -> JobResult:
        try:
            [result] = await call([job])
        except Exception:
            logger.exception("%s runner call failed", kind)
            raise APIError(503, f"the {kind} model runner is unavailable; try again later", error_type="model_unavailable") from None
        if result.error:
            if result.error_is_client_fault:
                raise APIError(400, result.error, field=voice_field)
            raise APIError(500, f"{kind} generation failed; see the server log", error_type="model_error")
        return result

    def _encode(self, samples: Any, sample_rate: int, fmt: OutputFormat) -> bytes:
        audio = self.settings.audio
        return encode(samples, sample_rate, fmt, mp3_bitrate=audio.mp3_bitrate, opus_bitrate=audio.opus_bitrate)

    async def _store(
        self, request: Request, kind: OutputType, result: JobResult, fmt: OutputFormat, response_mode: ResponseMode,
        *, voice: str | None, summary: dict[str, Any], parameters: dict[str, Any], model_source: str,
    ) -> Response:
        assert result.audio is not None
        samples = result.audio.to_array()
        data = await run_in_threadpool(self._encode, samples, result.audio.sample_rate, fmt)
        filename = new_output_name(kind, fmt.extension, summary)
        metadata = OutputMetadata(
            filename=filename,
            type=kind,
            created_at=datetime.now(timezone.utc),
            format=fmt.value,
            content_type=fmt.content_type,
            sample_rate=result.audio.sample_rate,
            duration_seconds=round(len(samples) / result.audio.sample_rate, 3),
            size_bytes=len(data),
            generation_seconds=round(result.generation_seconds, 3),
            model_source=model_source,
            voice=voice,
            parameters={**parameters, "chunks": result.chunks, "conditioning_cache_hit": result.conditioning_cache_hit},
        )
        await run_in_threadpool(self.outputs.save, data, metadata)
        logger.info("output stored", extra={"output": filename, "seconds": metadata.duration_seconds, "generation_seconds": metadata.generation_seconds})
        if response_mode == "stream":
            return Response(data, media_type=fmt.content_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Output-Filename": filename})
        url = str(request.url_for("download_output", filename=filename))
        return JSONResponse(OutputResponse(filename=filename, url=url, metadata=metadata).model_dump(mode="json"))

    async def model_source(self, kind: str, info: RunnerInfoCall) -> str:
        """The loaded source (random/local/huggingface) recorded in every output's metadata."""
        if kind not in self._model_source:
            try:
                self._model_source[kind] = (await info()).model_source
            except Exception:
                logger.exception("%s runner info failed", kind)
                raise APIError(503, f"the {kind} model runner is unavailable; try again later", error_type="model_unavailable") from None
        return self._model_source[kind]

    async def tts(self, request: Request, body: TTSRequest, synthesize: RunnerCall, info: RunnerInfoCall) -> Response:
        metadata, voice = await self.voices.reference(body.voice, "voice") if body.voice else (None, None)
        defaults = metadata.defaults if metadata is not None else VoiceDefaults()
        resolved = {
            "exaggeration": first_given(body.exaggeration, defaults.exaggeration, DEFAULT_EXAGGERATION),
            "cfg_weight": first_given(body.cfg_weight, defaults.cfg_weight, DEFAULT_CFG_WEIGHT),
            "temperature": first_given(body.temperature, defaults.temperature, DEFAULT_TEMPERATURE),
            "seed": body.seed if body.seed is not None else secrets.randbelow(2**32),
        }
        job = TTSJob(text=body.text, voice=voice, **resolved)
        source = await self.model_source("tts", info)
        result = await self._run(synthesize, job, "tts", "voice")
        if metadata is not None:
            self.voices.library.record_use(metadata.name)
        parameters = body.model_dump(mode="json") | resolved
        summary = {"voice": body.voice or "default", "exag": resolved["exaggeration"], "cfg": resolved["cfg_weight"]}
        return await self._store(request, "tts", result, body.output_format, body.response_mode, voice=body.voice, summary=summary, parameters=parameters, model_source=source)

    async def _vc_source(self, input_audio: UploadFile | None, input_filename: str | None) -> AudioPayload:
        limits = self.settings.limits
        if (input_audio is None) == (input_filename is None):
            raise APIError(422, "send exactly one of input_audio (an upload) or input_filename (a stored output)", field="input_audio")
        if input_audio is not None:
            upload = await read_audio_upload(
                input_audio, "input_audio", max_bytes=limits.max_upload_bytes, sample_rate=VC_SOURCE_SAMPLE_RATE,
                min_seconds=limits.vc_source_min_seconds, max_seconds=limits.vc_source_max_seconds,
            )
            return AudioPayload.from_array(upload.audio.samples, VC_SOURCE_SAMPLE_RATE)
        assert input_filename is not None
        if not is_output_name(input_filename):
            raise APIError(422, f"input_filename {input_filename!r} is not an output file name (see GET /api/v1/outputs)", field="input_filename")
        try:
            data = await run_in_threadpool(self.storage.get, self.outputs.audio_key(input_filename))
            audio = await run_in_threadpool(decode, data, VC_SOURCE_SAMPLE_RATE)
        except ObjectNotFoundError:
            raise APIError(404, f"input_filename: no output named {input_filename!r}", field="input_filename", error_type="not_found") from None
        except AudioDecodeError as exc:
            raise APIError(400, f"input_filename: {exc}", field="input_filename") from None
        check_duration(audio, "input_filename", min_seconds=limits.vc_source_min_seconds, max_seconds=limits.vc_source_max_seconds)
        return AudioPayload.from_array(audio.samples, VC_SOURCE_SAMPLE_RATE)

    async def vc(
        self, request: Request, convert: RunnerCall, info: RunnerInfoCall, *, input_audio: UploadFile | None, input_filename: str | None,
        target_voice: str | None, target_audio: UploadFile | None, output_format: OutputFormat, response_mode: ResponseMode,
    ) -> Response:
        if target_voice is not None and target_audio is not None:
            raise APIError(422, "send at most one of target_voice (a voice name) or target_audio (an upload)", field="target_voice")
        source = await self._vc_source(input_audio, input_filename)
        target: VoiceReference | None = None
        target_metadata = None
        if target_voice is not None:
            target_metadata, target = await self.voices.reference(target_voice, "target_voice")
        elif target_audio is not None:
            target = await self.voices.uploaded_reference(target_audio, "target_audio")
        model_source = await self.model_source("vc", info)
        result = await self._run(convert, VCJob(source=source, target_voice=target), "vc", "target_voice")
        if target_metadata is not None:
            self.voices.library.record_use(target_metadata.name)
        target_label = target_voice or ("upload" if target_audio is not None else "default")
        parameters = {
            "input_filename": input_filename,
            "input_upload": input_audio.filename if input_audio else None,
            "target_voice": target_voice,
            "target_upload": target_audio.filename if target_audio else None,
            "output_format": output_format.value,
            "response_mode": response_mode,
        }
        return await self._store(request, "vc", result, output_format, response_mode, voice=target_voice, summary={"voice": target_label}, parameters=parameters, model_source=model_source)

    # --- downloads and health -----------------------------------------------------------

    async def download(self, filename: str) -> Response:
        try:
            key = self.outputs.audio_key(filename)
            size = await run_in_threadpool(self.storage.size, key)
            chunks = await run_in_threadpool(self.storage.iter_bytes, key)
        except ObjectNotFoundError:
            raise APIError(404, f"no output named {filename!r}", field="filename", error_type="not_found") from None
        media_type = CONTENT_TYPE_BY_EXTENSION.get(filename.rsplit(".", 1)[-1], "application/octet-stream")
        headers = {"Content-Length": str(size), "Content-Disposition": f'inline; filename="{filename}"'}
        return StreamingResponse(chunks, media_type=media_type, headers=headers)

    async def _model_health(self, info: RunnerInfoCall) -> ModelHealth:
        try:
            runner = await asyncio.wait_for(info(), timeout=10)
        except Exception as exc:
            return ModelHealth(ready=False, error=f"{type(exc).__name__}: {exc}"[:300])
        return ModelHealth(
            ready=True, source=runner.model_source, device=runner.device,
            has_default_voice=runner.has_default_voice, conditioning_cache_entries=runner.conditioning_cache_entries,
        )

    async def health(self, tts_info: RunnerInfoCall, vc_info: RunnerInfoCall) -> tuple[HealthResponse, int]:
        tts, vc = await asyncio.gather(self._model_health(tts_info), self._model_health(vc_info))
        storage = StorageHealth(backend=self.storage.backend, ready=True)
        try:
            await run_in_threadpool(self.storage.check)
        except StorageError as exc:
            storage = StorageHealth(backend=self.storage.backend, ready=False, error=str(exc)[:300])
        library = self.voices.library
        voice_index = VoiceIndexHealth(ready=library.loaded, voices=library.size)
        ready = tts.ready and vc.ready and storage.ready and voice_index.ready
        body = HealthResponse(
            status="ok" if ready else "unavailable", ready=ready, version=__version__, tts=tts, vc=vc, storage=storage, voice_index=voice_index
        )
        return body, 200 if ready else 503
