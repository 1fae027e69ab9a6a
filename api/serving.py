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
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

import aiohttp
import numpy as np
from fastapi import Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import __version__
from api.admission import AdmissionSlots
from api.errors import APIError
from api.outputs import not_found, output_response
from api.protocol import (
    GenerationsHealth,
    HealthResponse,
    ModelHealth,
    OutputIndexHealth,
    ResponseMode,
    StorageHealth,
    TTSRequest,
    VoiceIndexHealth,
)
from api.runner_voices import RunnerVoice, VoiceChangedError, VoicesInUse
from api.speech_stream import SpeechStream, SpeechStreamingResponse
from api.uploads import check_duration, read_audio_upload
from api.voice_resolution import BUILTIN_VOICE, ResolvedVoice
from api.voices import VoiceServing
from audio.codec import AudioDecodeError, decode
from audio.crossfade import crossfade_join
from audio.encoding import EncodeSpec, encode, output_spec
from audio.formats import OutputFormat
from audio.speed import SpeedChangeError, SpeedLibrary, change_speed
from config import Settings
from lifecycle.drain import Drain, ShuttingDownError
from models.jobs import AudioPayload, DecodeResult, JobResult, RenderJob, RunnerInfo, TTSJob, VCJob, VCRenderJob, VoiceReference
from models.metrics import timed_stage
from models.parameters import DEFAULT_CFG_WEIGHT, DEFAULT_EXAGGERATION, DEFAULT_TEMPERATURE
from models.text_chunks import split_for_streaming, split_into_chunks
from outputs.library import OutputLibrary, OutputNotFoundError
from storage import ObjectNotFoundError, Storage, StorageError
from storage.outputs import OutputMetadata, OutputType, is_output_name, new_output_name
from voices.metadata import VoiceDefaults

logger = logging.getLogger(__name__)

RUNNER_INFO_TIMEOUT_SECONDS = 10

VC_SOURCE_SAMPLE_RATE = 16_000  # what S3Gen's tokenizer consumes
RunnerCall = Callable[[list[Any]], Awaitable[list[Any]]]
RunnerInfoCall = Callable[[], Awaitable[RunnerInfo]]


@dataclass(frozen=True)
class RunnerStages:
    """A runner's two calls: `decode` (TTS: T3; VC: the S3 tokenizer; adaptively batched)
    and `render` (S3Gen, one job a call, so a request waits for its own render only)."""

    decode: RunnerCall
    render: RunnerCall


@dataclass(frozen=True)
class SpeechPlan:
    """A TTS request with its voice and every parameter resolved, ready to generate."""

    body: TTSRequest
    voice: ResolvedVoice
    resolved: dict[str, Any]  # exaggeration, cfg_weight, temperature, seed
    speed: float
    library: SpeedLibrary
    voice_name: str | None  # None: the built-in voice
    model_source: str
    parameters: dict[str, Any]  # for the output's metadata
    summary: dict[str, Any]  # for the output's file name

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Voice-Resolved": self.voice.label, "X-Voice-Source": self.voice.source}


def first_given(*values: float | None) -> float:
    """The request's value, else the voice's default, else the service default."""
    return next(value for value in values if value is not None)


class Serving:
    def __init__(self, settings: Settings, storage: Storage, voices: VoiceServing, outputs: OutputLibrary, drain: Drain, in_use: VoicesInUse) -> None:
        self.settings = settings
        self.in_use = in_use
        self.storage = storage
        self.voices = voices
        self.outputs = outputs
        self.drain = drain
        self._runner_info: dict[str, RunnerInfo] = {}
        self.slots = AdmissionSlots(settings.limits.max_pending_generations)
        drain.on_start(self.slots.close)

    # --- generation -------------------------------------------------------------------

    async def _call_runner(self, call: RunnerCall, job: Any, kind: str) -> Any:
        """One runner call, tried again once when the connection broke under it: the client
        may reuse a kept-alive connection the runner closed a moment before (a broken pipe
        on send), and a job is deterministic (seeded), so a second try is safe. A runner
        that is really gone fails the second try too."""
        try:
            [result] = await self.drain.guard(call([job]))
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            logger.warning("%s runner connection broke (%s); trying once more", kind, exc)
            [result] = await self.drain.guard(call([job]))
        return result

    async def _call_or_503(self, call: RunnerCall, job: Any, kind: str) -> Any:
        try:
            return await self._call_runner(call, job, kind)
        except ShuttingDownError:
            raise
        except Exception:
            logger.exception("%s runner call failed", kind)
            raise APIError(503, f"the {kind} model runner is unavailable; try again later", error_type="model_unavailable") from None

    async def _run(self, call: RunnerCall, job_for: Callable[[VoiceReference | None], Any], voice: RunnerVoice | None, kind: str, voice_field: str) -> Any:
        """The job `job_for` makes for the voice, sent by reference; sent again with the
        voice's audio when the runner has not got it cached and cannot read it itself."""
        result = await self._call_or_503(call, job_for(voice.reference if voice else None), kind)
        if result.needs_reference and voice is not None:
            try:
                reference = await voice.with_audio()
            except VoiceChangedError as exc:
                raise APIError(409, str(exc), field=voice_field, error_type="conflict") from None
            result = await self._call_or_503(call, job_for(reference), kind)
        if voice is not None and not result.error:
            voice.spoken = True
        if result.error:
            if result.error_is_client_fault:
                raise APIError(400, result.error, field=voice_field)
            raise APIError(500, f"{kind} generation failed; see the server log", error_type="model_error")
        return result

    async def _synthesize(self, stages: RunnerStages, job_for: Callable[[VoiceReference | None], TTSJob], voice: RunnerVoice | None) -> JobResult:
        """One chunk: its speech tokens from the batched decoder, then its own render."""
        started = time.perf_counter()
        decoded: DecodeResult = await self._run(stages.decode, job_for, voice, "tts", "voice")
        rendered: JobResult = await self._run(
            stages.render, lambda reference: RenderJob(job=job_for(reference), speech_tokens=decoded.speech_tokens), voice, "tts", "voice"
        )
        return rendered.model_copy(
            update={"text_tokens": decoded.text_tokens, "conditioning_cache_hit": decoded.conditioning_cache_hit, "generation_seconds": time.perf_counter() - started}
        )

    async def _save_output(
        self, kind: OutputType, samples: np.ndarray, source_rate: int, spec: EncodeSpec, filename: str, **details: Any,
    ) -> tuple[OutputMetadata, bytes]:
        with timed_stage("api", "encode"):
            data = await run_in_threadpool(encode, samples, source_rate, spec)
        return await self._save_encoded(kind, data, len(samples) / source_rate, spec, filename, **details), data

    async def _save_encoded(
        self, kind: OutputType, data: bytes, seconds: float, spec: EncodeSpec, filename: str,
        *, generation_seconds: float, voice: str | None, parameters: dict[str, Any], model_source: str,
    ) -> OutputMetadata:
        metadata = OutputMetadata(
            filename=filename,
            type=kind,
            created_at=datetime.now(timezone.utc),
            format=spec.format.value,
            content_type=spec.format.content_type,
            sample_rate=spec.sample_rate,
            duration_seconds=round(seconds, 3),
            size_bytes=len(data),
            generation_seconds=round(generation_seconds, 3),
            model_source=model_source,
            voice=voice,
            parameters=parameters | {"bitrate": spec.bitrate},
        )
        await run_in_threadpool(self.outputs.save, data, metadata)
        logger.info("output stored", extra={"output": filename, "seconds": metadata.duration_seconds, "generation_seconds": metadata.generation_seconds})
        return metadata

    async def _store(
        self, request: Request, kind: OutputType, samples: np.ndarray, source_rate: int, spec: EncodeSpec, response_mode: ResponseMode,
        *, generation_seconds: float, voice: str | None, summary: dict[str, Any], parameters: dict[str, Any], model_source: str,
    ) -> Response:
        filename = new_output_name(kind, spec.format.extension, summary)
        metadata, data = await self._save_output(
            kind, samples, source_rate, spec, filename, generation_seconds=generation_seconds, voice=voice, parameters=parameters, model_source=model_source
        )
        if response_mode == "stream":
            return Response(data, media_type=spec.format.content_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Output-Filename": filename})
        return output_response(request, metadata)

    async def model_info(self, kind: str, info: RunnerInfoCall) -> RunnerInfo:
        """What a runner loaded (its source is recorded in every output's metadata); asked
        once, since it does not change while the runner lives."""
        if kind not in self._runner_info:
            try:
                self._runner_info[kind] = await info()
            except Exception:
                logger.exception("%s runner info failed", kind)
                raise APIError(503, f"the {kind} model runner is unavailable; try again later", error_type="model_unavailable") from None
        return self._runner_info[kind]

    async def model_source(self, kind: str, info: RunnerInfoCall) -> str:
        return (await self.model_info(kind, info)).model_source

    async def library_voice(self, name: str | None) -> ResolvedVoice:
        """`/api/v1/tts`'s voice: a library voice by name, or the built-in one."""
        if name is None:
            return BUILTIN_VOICE
        metadata, reference = await self.voices.runner_voice(name, "voice")
        return ResolvedVoice(metadata.name, "library", metadata, reference)

    async def tts(self, request: Request, body: TTSRequest, stages: RunnerStages, info: RunnerInfoCall) -> Response:
        return await self.speak(request, body, partial(self.library_voice, body.voice), stages, info)

    async def _change_speed(self, samples: np.ndarray, sample_rate: int, speed: float, library: SpeedLibrary) -> tuple[np.ndarray, str | None]:
        """Time stretching runs here, in the API's thread pool, never in the model runner:
        another request's generation does not wait for it."""
        try:
            with timed_stage("api", "speed"):
                return await run_in_threadpool(change_speed, samples, sample_rate, speed, library)
        except SpeedChangeError as exc:
            logger.error("speed change failed", extra={"error": str(exc)})
            raise APIError(500, f"could not change the speed: {exc}", error_type="processing_error") from None

    async def speak(
        self, request: Request, body: TTSRequest, resolve_voice: Callable[[], Awaitable[ResolvedVoice]], stages: RunnerStages, info: RunnerInfoCall,
        *, sse: bool = False, media_type: str | None = None, store: bool = True, extra_parameters: dict[str, Any] | None = None,
    ) -> Response:
        """Generate `body.text` in the voice `resolve_voice` finds: whole (then stored,
        answered with its URL or its bytes), or with `stream_chunks` sent group by group as
        it is generated. Holds one generation slot, taken before any other work, until the
        last byte is sent."""
        self.slots.acquire()
        release_voice = self.in_use.hold(None)  # nothing held until the voice is known
        handed_over = False
        try:
            voice = await resolve_voice()
            release_voice = self.in_use.hold(voice.reference)
            plan = self._plan(body, voice, await self.model_source("tts", info), extra_parameters or {})
            if body.stream_chunks:
                response = await self._speak_streamed(request, plan, stages, sse=sse, media_type=media_type, store=store, release_voice=release_voice)
                handed_over = True  # the response frees the slot and the voice when the stream ends
                return response
            return await self._speak_whole(request, plan, stages)
        finally:
            if not handed_over:
                release_voice()
                self.slots.release()

    def _plan(self, body: TTSRequest, voice: ResolvedVoice, model_source: str, extra_parameters: dict[str, Any]) -> SpeechPlan:
        """Every parameter resolved: the request's value, else the voice's default, else the service's."""
        defaults = voice.metadata.defaults if voice.metadata is not None else VoiceDefaults()
        configured = self.settings.tts
        resolved = {
            "exaggeration": first_given(body.exaggeration, defaults.exaggeration, DEFAULT_EXAGGERATION),
            "cfg_weight": first_given(body.cfg_weight, defaults.cfg_weight, DEFAULT_CFG_WEIGHT),
            "temperature": first_given(body.temperature, defaults.temperature, DEFAULT_TEMPERATURE),
            "seed": body.seed if body.seed is not None else secrets.randbelow(2**32),
        }
        speed = first_given(body.speed_factor, defaults.speed_factor, configured.speed_factor)
        library = body.speed_factor_library or configured.speed_factor_library
        voice_name = voice.label if voice.reference is not None else None
        parameters = body.model_dump(mode="json") | resolved | extra_parameters | {
            "voice": voice_name, "voice_source": voice.source, "speed_factor": speed, "speed_factor_library": library,
        }
        summary = {"voice": voice_name or "default", "exag": resolved["exaggeration"], "cfg": resolved["cfg_weight"], "speed": speed if speed != 1.0 else None}
        return SpeechPlan(body, voice, resolved, speed, library, voice_name, model_source, parameters, summary)

    def _record_use(self, voice: ResolvedVoice) -> None:
        if voice.metadata is not None:
            self.voices.library.record_use(voice.metadata.name)

    def _synthesize_chunk(self, stages: RunnerStages, plan: SpeechPlan, text: str, index: int) -> Awaitable[JobResult]:
        """Chunk `index` of a request, seeded from the request's seed: same seed, same audio."""
        parameters = plan.resolved | {"seed": (plan.resolved["seed"] + index) % 2**32}
        return self._synthesize(stages, lambda voice: TTSJob(text=text, voice=voice, **parameters), plan.voice.reference)

    async def _generate_chunked(self, plan: SpeechPlan, stages: RunnerStages) -> JobResult:
        """The text's chunks as runner jobs of their own, joined here with the crossfade.
        Each chunk joins the runner's batch queue beside other requests' chunks, so a long
        text neither runs alone nor makes short requests wait for all of it; at most
        `tts.chunks_in_flight` of them are queued at once, so it leaves room in every batch."""
        configured = self.settings.tts
        texts = split_into_chunks(plan.body.text, configured.max_chunk_chars)
        window = asyncio.Semaphore(configured.chunks_in_flight)  # wakes waiters first come, first served
        started = time.perf_counter()

        async def generate(index: int, text: str) -> JobResult:
            async with window:
                return await self._synthesize_chunk(stages, plan, text, index)

        tasks = [asyncio.create_task(generate(index, text)) for index, text in enumerate(texts)]
        try:
            results = await asyncio.gather(*tasks)
        finally:  # one chunk failed, or the client left: the others need not be generated
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        audio = [result.audio for result in results if result.audio is not None]
        joined = await run_in_threadpool(lambda: crossfade_join([payload.to_array() for payload in audio], audio[0].sample_rate, configured.crossfade_ms))
        return JobResult(
            audio=AudioPayload.from_array(joined, audio[0].sample_rate),
            chunks=len(results),
            conditioning_cache_hit=results[0].conditioning_cache_hit,
            generation_seconds=time.perf_counter() - started,
            text_tokens=sum(result.text_tokens for result in results),
            speech_tokens=sum(result.speech_tokens for result in results),
        )

    async def _speak_whole(self, request: Request, plan: SpeechPlan, stages: RunnerStages) -> Response:
        body = plan.body
        result = await self._generate_chunked(plan, stages)
        self._record_use(plan.voice)
        assert result.audio is not None
        started = time.perf_counter()
        samples, used_library = await self._change_speed(result.audio.to_array(), result.audio.sample_rate, plan.speed, plan.library)
        speed_seconds = time.perf_counter() - started
        spec = output_spec(body.output_format, body.sample_rate, self.settings.audio, result.audio.sample_rate)
        details = {
            "speed_factor_library_used": used_library, "speed_seconds": round(speed_seconds, 4),
            "sample_rate": spec.sample_rate, "chunks": result.chunks, "conditioning_cache_hit": result.conditioning_cache_hit,
        }
        response = await self._store(
            request, "tts", samples, result.audio.sample_rate, spec, body.response_mode, generation_seconds=result.generation_seconds,
            voice=plan.voice_name, summary=plan.summary, parameters=plan.parameters | details, model_source=plan.model_source,
        )
        response.headers.update(plan.headers)
        return response

    async def _speak_streamed(
        self, request: Request, plan: SpeechPlan, stages: RunnerStages, *, sse: bool, media_type: str | None, store: bool, release_voice: Callable[[], None]
    ) -> SpeechStreamingResponse:
        configured = self.settings.tts
        chunks = split_for_streaming(plan.body.text, configured.stream_first_chunk_chars, configured.max_chunk_chars)

        def generate(index: int) -> Awaitable[JobResult]:
            return self._synthesize_chunk(stages, plan, chunks[index], index)

        started = time.perf_counter()
        first = await generate(0)
        self._record_use(plan.voice)
        assert first.audio is not None
        source_rate = first.audio.sample_rate
        spec = output_spec(plan.body.output_format, plan.body.sample_rate, self.settings.audio, source_rate)
        stretched_by: set[str] = set()
        speed_seconds = 0.0

        async def postprocess(samples: np.ndarray) -> np.ndarray:
            nonlocal speed_seconds
            began = time.perf_counter()
            changed, library_used = await self._change_speed(samples, source_rate, plan.speed, plan.library)
            speed_seconds += time.perf_counter() - began
            stretched_by.update([library_used] if library_used else [])
            return changed

        filename = new_output_name("tts", spec.format.extension, plan.summary) if store else None

        async def save(data: bytes, seconds: float) -> None:
            assert filename is not None
            details = {
                "speed_factor_library_used": ",".join(sorted(stretched_by)) or None, "speed_seconds": round(speed_seconds, 4), "sample_rate": spec.sample_rate,
                "chunks": len(chunks), "conditioning_cache_hit": first.conditioning_cache_hit, "streamed": True,
            }
            try:
                await self._save_encoded(
                    "tts", data, seconds, spec, filename, generation_seconds=time.perf_counter() - started,
                    voice=plan.voice_name, parameters=plan.parameters | details, model_source=plan.model_source,
                )
            except Exception:  # the listener has the audio; only the stored copy is lost
                logger.exception("streamed output could not be stored", extra={"output": filename})

        stream = SpeechStream(
            chunk_count=len(chunks), first=first, generate=generate, postprocess=postprocess, spec=spec,
            crossfade_ms=configured.crossfade_ms, request=request, on_complete=save if store else None,
        )
        headers = plan.headers | ({"X-Output-Filename": filename} if filename else {}) | ({"Cache-Control": "no-cache"} if sse else {})
        content_type = "text/event-stream" if sse else media_type or spec.format.content_type
        def close() -> None:
            release_voice()
            self.slots.release()

        return SpeechStreamingResponse(stream, sse=sse, on_close=close, media_type=content_type, headers=headers)

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

    async def vc(self, request: Request, stages: RunnerStages, info: RunnerInfoCall, **fields: Any) -> Response:
        with self.slots.hold():
            return await self._vc(request, stages, info, **fields)

    async def _vc(
        self, request: Request, stages: RunnerStages, info: RunnerInfoCall, *, input_audio: UploadFile | None, input_filename: str | None,
        target_voice: str | None, target_audio: UploadFile | None, output_format: OutputFormat, sample_rate: int | None, response_mode: ResponseMode,
    ) -> Response:
        if target_voice is not None and target_audio is not None:
            raise APIError(422, "send at most one of target_voice (a voice name) or target_audio (an upload)", field="target_voice")
        source = await self._vc_source(input_audio, input_filename)
        target: RunnerVoice | None = None
        target_metadata = None
        if target_voice is not None:
            target_metadata, target = await self.voices.runner_voice(target_voice, "target_voice")
        elif target_audio is not None:
            target = await self.voices.uploaded_voice(target_audio, "target_audio")
        model_source = await self.model_source("vc", info)
        started = time.perf_counter()
        release_voice = self.in_use.hold(target)
        try:
            tokens: DecodeResult = await self._run(stages.decode, lambda _: VCJob(source=source), None, "vc", "target_voice")
            result: JobResult = await self._run(
                stages.render, lambda reference: VCRenderJob(target_voice=reference, speech_tokens=tokens.speech_tokens), target, "vc", "target_voice"
            )
        finally:
            release_voice()
        result.generation_seconds = time.perf_counter() - started
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
        call = asyncio.ensure_future(info())
        done, _ = await asyncio.wait({call}, timeout=RUNNER_INFO_TIMEOUT_SECONDS)  # not wait_for: it waits on for a call that ignores its cancellation
        if not done:
            call.cancel()
            logger.warning("health: model runner did not answer within %s s", RUNNER_INFO_TIMEOUT_SECONDS)
            return ModelHealth(ready=False, error="the model runner is starting or not reachable; see the service log")
        try:
            runner = call.result()
        except Exception as exc:  # the cause goes to the log: /health is public, its text is not
            logger.warning("health: model runner did not answer: %s: %s", type(exc).__name__, str(exc)[:300])
            return ModelHealth(ready=False, error="the model runner is starting or not reachable; see the service log")
        lookups = runner.conditioning_cache_hits + runner.conditioning_cache_misses
        return ModelHealth(
            ready=True, source=runner.model_source, device=runner.device, has_default_voice=runner.has_default_voice,
            conditioning_cache_entries=runner.conditioning_cache_entries, conditioning_cache_hits=runner.conditioning_cache_hits,
            conditioning_cache_misses=runner.conditioning_cache_misses,
            conditioning_cache_hit_rate=round(runner.conditioning_cache_hits / lookups, 4) if lookups else None,
            references_from_storage=runner.references_from_storage, references_sent=runner.references_sent,
            jobs_done=runner.jobs_done, memory_rss_bytes=runner.memory_rss_bytes,
            gpu_memory_allocated_bytes=runner.gpu_memory_allocated_bytes, gpu_memory_peak_bytes=runner.gpu_memory_peak_bytes,
        )

    async def health(self, tts_info: RunnerInfoCall, vc_info: RunnerInfoCall) -> tuple[HealthResponse, int]:
        tts, vc = await asyncio.gather(self._model_health(tts_info), self._model_health(vc_info))
        storage = StorageHealth(backend=self.storage.backend, ready=True)
        try:
            await run_in_threadpool(self.storage.check)
        except StorageError as exc:
            logger.warning("health: storage check failed: %s", str(exc)[:300])
            storage = StorageHealth(backend=self.storage.backend, ready=False, error="the storage backend is not reachable or not writable; see the service log")
        library = self.voices.library
        voice_index = VoiceIndexHealth(ready=library.loaded, voices=library.size)
        outputs_index = OutputIndexHealth(ready=self.outputs.loaded, outputs=self.outputs.size)
        draining = self.drain.started.is_set()
        ready = tts.ready and vc.ready and storage.ready and voice_index.ready and outputs_index.ready and not draining
        body = HealthResponse(
            status="draining" if draining else "ok" if ready else "unavailable", ready=ready, version=__version__, tts=tts, vc=vc, storage=storage, voice_index=voice_index,
            outputs_index=outputs_index, generations=GenerationsHealth(in_flight=self.slots.active, limit=self.slots.limit),
        )
        return body, 200 if ready else 503
