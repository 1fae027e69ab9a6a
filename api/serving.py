"""Serving logic behind the routes: validate, resolve voices, call the runners, store.

Blocking work (storage I/O, decoding, encoding) runs in the thread pool so one slow S3 call
or ffmpeg encode never stalls the event loop that every other request shares.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any

import numpy as np
from fastapi import Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import __version__
from api.errors import APIError
from api.outputs import not_found, output_response
from api.protocol import (
    DEFAULT_CFG_WEIGHT,
    DEFAULT_EXAGGERATION,
    DEFAULT_TEMPERATURE,
    HealthResponse,
    ModelHealth,
    OutputIndexHealth,
    ResponseMode,
    StorageHealth,
    TTSRequest,
    VoiceIndexHealth,
)
from api.uploads import check_duration, read_audio_upload
from api.voices import VoiceServing
from audio.codec import AudioDecodeError, decode
from audio.encoding import EncodeSpec, encode, output_spec
from audio.formats import OutputFormat
from audio.speed import SpeedChangeError, change_speed
from config import Settings
from models.jobs import AudioPayload, JobResult, RunnerInfo, TTSJob, VCJob, VoiceReference
from outputs.library import OutputLibrary, OutputNotFoundError
from storage import ObjectNotFoundError, Storage, StorageError
from storage.outputs import OutputMetadata, OutputType, is_output_name, new_output_name
from voices.metadata import VoiceDefaults

logger = logging.getLogger(__name__)

VC_SOURCE_SAMPLE_RATE = 16_000  # what S3Gen's tokenizer consumes
RunnerCall = Callable[[list[Any]], Awaitable[list[JobResult]]]
RunnerInfoCall = Callable[[], Awaitable[RunnerInfo]]


def first_given(*values: float | None) -> float:
    """The request's value, else the voice's default, else the service default."""
    return next(value for value in values if value is not None)


class Serving:
    def __init__(self, settings: Settings, storage: Storage, voices: VoiceServing, outputs: OutputLibrary) -> None:
        self.settings = settings
        self.storage = storage
        self.voices = voices
        self.outputs = outputs
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

    async def _store(
        self, request: Request, kind: OutputType, samples: np.ndarray, source_rate: int, spec: EncodeSpec, response_mode: ResponseMode,
        *, generation_seconds: float, voice: str | None, summary: dict[str, Any], parameters: dict[str, Any], model_source: str,
    ) -> Response:
        data = await run_in_threadpool(encode, samples, source_rate, spec)
        filename = new_output_name(kind, spec.format.extension, summary)
        metadata = OutputMetadata(
            filename=filename,
            type=kind,
            created_at=datetime.now(timezone.utc),
            format=spec.format.value,
            content_type=spec.format.content_type,
            sample_rate=spec.sample_rate,
            duration_seconds=round(len(samples) / source_rate, 3),
            size_bytes=len(data),
            generation_seconds=round(generation_seconds, 3),
            model_source=model_source,
            voice=voice,
            parameters=parameters | {"bitrate": spec.bitrate},
        )
        await run_in_threadpool(self.outputs.save, data, metadata)
        logger.info("output stored", extra={"output": filename, "seconds": metadata.duration_seconds, "generation_seconds": metadata.generation_seconds})
        if response_mode == "stream":
            return Response(data, media_type=spec.format.content_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Output-Filename": filename})
        return output_response(request, metadata)

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
        configured = self.settings.tts
        resolved = {
            "exaggeration": first_given(body.exaggeration, defaults.exaggeration, DEFAULT_EXAGGERATION),
            "cfg_weight": first_given(body.cfg_weight, defaults.cfg_weight, DEFAULT_CFG_WEIGHT),
            "temperature": first_given(body.temperature, defaults.temperature, DEFAULT_TEMPERATURE),
            "seed": body.seed if body.seed is not None else secrets.randbelow(2**32),
        }
        speed = first_given(body.speed_factor, defaults.speed_factor, configured.speed_factor)
        library = body.speed_factor_library or configured.speed_factor_library
        job = TTSJob(text=body.text, voice=voice, **resolved)
        source = await self.model_source("tts", info)
        result = await self._run(synthesize, job, "tts", "voice")
        if metadata is not None:
            self.voices.library.record_use(metadata.name)
        assert result.audio is not None
        # Time stretching runs here, in the API's thread pool, never in the model runner:
        # another request's generation does not wait for it.
        started = time.perf_counter()
        try:
            samples, used = await run_in_threadpool(change_speed, result.audio.to_array(), result.audio.sample_rate, speed, library)
        except SpeedChangeError as exc:
            logger.error("speed change failed", extra={"error": str(exc)})
            raise APIError(500, f"could not change the speed: {exc}", error_type="processing_error") from None
        speed_seconds = time.perf_counter() - started
        spec = output_spec(body.output_format, body.sample_rate, self.settings.audio, result.audio.sample_rate)
        parameters = body.model_dump(mode="json") | resolved | {
            "speed_factor": speed, "speed_factor_library": library, "speed_factor_library_used": used, "speed_seconds": round(speed_seconds, 4),
            "sample_rate": spec.sample_rate, "chunks": result.chunks, "conditioning_cache_hit": result.conditioning_cache_hit,
        }
        summary = {"voice": body.voice or "default", "exag": resolved["exaggeration"], "cfg": resolved["cfg_weight"], "speed": speed if speed != 1.0 else None}
        return await self._store(
            request, "tts", samples, result.audio.sample_rate, spec, body.response_mode,
            generation_seconds=result.generation_seconds, voice=body.voice, summary=summary, parameters=parameters, model_source=source,
        )

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
            stored = await run_in_threadpool(self.outputs.get, input_filename)
            data = await run_in_threadpool(self.storage.get, self.outputs.store.audio_key(input_filename))
            pcm_rate = stored.sample_rate if stored.format == OutputFormat.pcm.value else None
            audio = await run_in_threadpool(partial(decode, data, VC_SOURCE_SAMPLE_RATE, raw_pcm_rate=pcm_rate))
        except (OutputNotFoundError, ObjectNotFoundError):
            raise not_found(input_filename, "input_filename") from None
        except AudioDecodeError as exc:
            raise APIError(400, f"input_filename: {exc}", field="input_filename") from None
        check_duration(audio, "input_filename", min_seconds=limits.vc_source_min_seconds, max_seconds=limits.vc_source_max_seconds)
        return AudioPayload.from_array(audio.samples, VC_SOURCE_SAMPLE_RATE)

    async def vc(
        self, request: Request, convert: RunnerCall, info: RunnerInfoCall, *, input_audio: UploadFile | None, input_filename: str | None,
        target_voice: str | None, target_audio: UploadFile | None, output_format: OutputFormat, sample_rate: int | None, response_mode: ResponseMode,
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
            "chunks": result.chunks,
            "conditioning_cache_hit": result.conditioning_cache_hit,
        }
        assert result.audio is not None
        spec = output_spec(output_format, sample_rate, self.settings.audio, result.audio.sample_rate)
        return await self._store(
            request, "vc", result.audio.to_array(), result.audio.sample_rate, spec, response_mode,
            generation_seconds=result.generation_seconds, voice=target_voice, summary={"voice": target_label}, parameters=parameters | {"sample_rate": spec.sample_rate}, model_source=model_source,
        )

    # --- health ------------------------------------------------------------------------

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
        outputs_index = OutputIndexHealth(ready=self.outputs.loaded, outputs=self.outputs.size)
        ready = tts.ready and vc.ready and storage.ready and voice_index.ready and outputs_index.ready
        body = HealthResponse(
            status="ok" if ready else "unavailable", ready=ready, version=__version__, tts=tts, vc=vc, storage=storage, voice_index=voice_index, outputs_index=outputs_index
        )
        return body, 200 if ready else 503
