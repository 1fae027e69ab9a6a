"""Serving speech (`/api/v1/tts` and the OpenAI route): admission, the voice, the plan, then
the audio whole (stored, answered with its URL or bytes) or streamed while generated.

Blocking work (speed change, encoding, storage) runs in the thread pool so one slow S3
call or ffmpeg encode never stalls the event loop every other request shares.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import cached_property, partial
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.chunk_windows import ChunkWindows
from api.errors import APIError
from api.generation import GenerationServing
from api.generation_results import OutputDetails
from api.protocol import TTSRequest
from api.runner_calls import RunnerStages
from api.speech_chunks import SpeechChunks
from api.speech_plan import SpeechPlan, check_model_parameters, plan_speech, speech_script
from api.speech_stream import SpeechStream, SpeechStreamingResponse
from api.voice_resolution import BUILTIN_VOICE, ResolvedVoice
from audio.encoding import output_spec
from audio.speed import SpeedChangeError, SpeedLibrary, change_speed
from contract.families import FAMILIES
from contract.metrics import timed_stage
from outputs.store import new_output_name

logger = logging.getLogger(__name__)


async def changed_speed(samples: np.ndarray, sample_rate: int, speed: float, library: SpeedLibrary) -> tuple[np.ndarray, str | None]:
    """Time stretching runs here, in the API's thread pool, never in the model runner:
    another request's generation does not wait for it."""
    try:
        with timed_stage("api", "speed"):
            return await run_in_threadpool(change_speed, samples, sample_rate, speed, library)
    except SpeedChangeError as exc:
        logger.error("speed change failed", extra={"error": str(exc)})
        raise APIError(500, f"could not change the speed: {exc}", error_type="processing_error") from None


class SpeechServing(GenerationServing):
    @cached_property
    def chunks(self) -> SpeechChunks:
        return SpeechChunks(self.settings.tts, self.runners)

    async def library_voice(self, name: str | None) -> ResolvedVoice:
        """`/api/v1/tts`'s voice: a library voice by name, or the built-in one."""
        if name is None:
            return BUILTIN_VOICE
        metadata, reference = await self.voices.runner_voice(name, "voice")
        return ResolvedVoice(metadata.name, "library", metadata, reference)

    async def tts(self, request: Request, body: TTSRequest) -> Response:
        return await self.speak(request, body, partial(self.library_voice, body.voice))

    async def speak(
        self, request: Request, body: TTSRequest, resolve_voice: Callable[[], Awaitable[ResolvedVoice]],
        *, sse: bool = False, media_type: str | None = None, store: bool = True, extra_parameters: dict[str, Any] | None = None, text_field: str = "text",
    ) -> Response:
        """Generate `body.text` with the model it names, in the voice `resolve_voice` finds:
        whole (then stored, answered with its URL or its bytes), or with `stream_chunks` sent
        group by group as it is generated. Holds one generation slot, taken before any other
        work (but checking the request against its model), until the last byte is sent."""
        runner = self.models.pick(body.model)
        check_model_parameters(body, runner.name)
        info = await self.runners.info(runner.name, runner.info)
        tags = info.tags if FAMILIES[runner.name].tags else None
        script = speech_script(body.text, tags, self.settings.tts, text_field)
        self.slots.acquire()
        release_voice = self.in_use.hold(None)  # nothing held until the voice is known
        handed_over = False
        try:
            voice = await resolve_voice()
            release_voice = self.in_use.hold(voice.reference)
            model_source = await self.runners.model_source(runner.name, runner.info)
            plan = plan_speech(self.settings.tts, body, runner.name, script, voice, model_source, extra_parameters or {})
            if body.stream_chunks:
                response = await self._streamed(request, plan, runner.stages, info.sample_rate, sse=sse, media_type=media_type, store=store, release_voice=release_voice)
                handed_over = True  # the response frees the slot and the voice when the stream ends
                return response
            return await self._whole(request, plan, runner.stages)
        finally:
            if not handed_over:
                release_voice()
                self.slots.release()

    async def record_use(self, voice: ResolvedVoice) -> None:
        if voice.metadata is not None:
            await run_in_threadpool(self.voices.library.uses.record, voice.metadata.name)

    async def _whole(self, request: Request, plan: SpeechPlan, stages: RunnerStages) -> Response:
        result = await self.chunks.whole(stages, plan)
        await self.record_use(plan.voice)
        assert result.audio is not None
        started = time.perf_counter()
        samples, used_library = await changed_speed(result.audio.to_array(), result.audio.sample_rate, plan.speed, plan.library)
        speed_seconds = time.perf_counter() - started
        spec = output_spec(plan.body.output_format, plan.body.sample_rate, self.settings.audio, result.audio.sample_rate)
        details = {
            "speed_factor_library_used": used_library, "speed_seconds": round(speed_seconds, 4),
            "sample_rate": spec.sample_rate, "chunks": result.chunks, "conditioning_cache_hit": result.conditioning_cache_hit,
        }
        response = await self.results.store(
            request, "tts", samples, result.audio.sample_rate, spec, plan.body.response_mode, plan.summary,
            OutputDetails(result.generation_seconds, plan.voice_name, plan.parameters | details, plan.model_source),
        )
        response.headers.update(plan.headers)
        return response

    async def _streamed(
        self, request: Request, plan: SpeechPlan, stages: RunnerStages, source_rate: int, *, sse: bool, media_type: str | None, store: bool, release_voice: Callable[[], None]
    ) -> SpeechStreamingResponse:
        configured = self.settings.tts
        chunks = plan.chunks(configured, configured.stream_first_chunk_chars)

        def open_chunk(index: int) -> ChunkWindows:
            return ChunkWindows(self.chunks.stream(stages, plan, chunks[index].text, index))

        spec = output_spec(plan.body.output_format, plan.body.sample_rate, self.settings.audio, source_rate)
        started = time.perf_counter()
        first = open_chunk(0)
        try:
            await first.ready()
        except BaseException:
            await first.close()
            raise
        await self.record_use(plan.voice)
        stretched_by: set[str] = set()
        speed_seconds = 0.0

        async def stretch(samples: np.ndarray) -> np.ndarray:
            nonlocal speed_seconds
            began = time.perf_counter()
            changed, library_used = await changed_speed(samples, source_rate, plan.speed, plan.library)
            speed_seconds += time.perf_counter() - began
            stretched_by.update([library_used] if library_used else [])
            return changed

        filename = new_output_name("tts", spec.format.extension, plan.summary) if store else None

        async def save(data: bytes, seconds: float) -> None:
            assert filename is not None
            details = {
                "speed_factor_library_used": ",".join(sorted(stretched_by)) or None, "speed_seconds": round(speed_seconds, 4), "sample_rate": spec.sample_rate,
                "chunks": len(chunks), "windows": stream.windows, "conditioning_cache_hit": first.totals.conditioning_cache_hit, "streamed": True,
            }
            try:
                await self.results.save_encoded(
                    "tts", data, seconds, spec, filename, OutputDetails(time.perf_counter() - started, plan.voice_name, plan.parameters | details, plan.model_source)
                )
            except Exception:  # the listener has the audio; only the stored copy is lost
                logger.exception("streamed output could not be stored", extra={"output": filename})

        stream = SpeechStream(
            pauses=[chunk.pause_before / plan.speed for chunk in chunks], trailing_pause=plan.script.trailing_pause / plan.speed, first=first, open_chunk=open_chunk,
            stretch=None if plan.speed == 1 else stretch, spec=spec, source_rate=source_rate, crossfade_ms=configured.crossfade_ms, request=request,
            on_complete=save if store else None,
        )
        headers = plan.headers | ({"X-Output-Filename": filename} if filename else {}) | ({"Cache-Control": "no-cache"} if sse else {})
        content_type = "text/event-stream" if sse else media_type or spec.format.content_type

        def close() -> None:
            release_voice()
            self.slots.release()

        return SpeechStreamingResponse(stream, sse=sse, on_close=close, media_type=content_type, headers=headers)
