"""Generating a text's chunks: each one a decode job (joining the model's T3 loop beside
other requests' chunks) and then its own render; for a whole answer, all chunks at once
within a window, joined with the crossfade, or with the text's pauses between them. A
streamed chunk is one runner call that answers in windows (`stream`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
from starlette.concurrency import run_in_threadpool

from api.runner_calls import RunnerCalls, RunnerStages, Window
from api.speech_plan import SpeechPlan
from audio.crossfade import crossfade_join
from config import TTSSettings
from contract.runner_jobs import AudioPayload, DecodeResult, JobResult, RenderJob, StreamJob, TTSJob, VoiceReference


class SpeechChunks:
    def __init__(self, configured: TTSSettings, runners: RunnerCalls) -> None:
        self.configured = configured
        self.runners = runners

    async def generate(self, stages: RunnerStages, plan: SpeechPlan, text: str, index: int) -> JobResult:
        """Chunk `index`: its speech tokens from the model's T3 loop, then its own render (the
        first chunk's ahead of later chunks of other requests)."""
        voice = plan.voice.reference
        parameters = plan.chunk_parameters(index)

        def job_for(reference: VoiceReference | None) -> TTSJob:
            return TTSJob(text=text, voice=reference, **parameters)

        started = time.perf_counter()
        decoded: DecodeResult = await self.runners.run(stages.decode, job_for, voice, plan.model, "voice")
        rendered: JobResult = await self.runners.run(
            stages.render, lambda reference: RenderJob(job=job_for(reference), speech_tokens=decoded.speech_tokens, first=index == 0), voice, plan.model, "voice"
        )
        return rendered.model_copy(
            update={"text_tokens": decoded.text_tokens, "conditioning_cache_hit": decoded.conditioning_cache_hit, "generation_seconds": time.perf_counter() - started}
        )

    def stream(self, stages: RunnerStages, plan: SpeechPlan, text: str, index: int) -> AsyncIterator[Window]:
        """Chunk `index` decoded and rendered by the runner in windows as its tokens arrive
        (the first chunk's first window ahead of other requests' later ones), then its totals."""
        parameters = plan.chunk_parameters(index)
        assert stages.stream is not None, "a TTS runner streams"

        def job_for(reference: VoiceReference | None) -> StreamJob:
            return StreamJob(job=TTSJob(text=text, voice=reference, **parameters), first=index == 0)

        return self.runners.stream(stages.stream, job_for, plan.voice.reference, plan.model, "voice")

    async def whole(self, stages: RunnerStages, plan: SpeechPlan) -> JobResult:
        """The text's chunks as runner jobs of their own, joined here with the crossfade.
        A long text neither runs alone nor makes short requests wait for all of it: at most
        `tts.chunks_in_flight` of its chunks are queued at once, so it leaves room in every
        batch."""
        configured = self.configured
        chunks = plan.chunks(configured)
        window = asyncio.Semaphore(configured.chunks_in_flight)  # wakes waiters first come, first served
        started = time.perf_counter()

        async def generate(index: int, text: str) -> JobResult:
            async with window:
                return await self.generate(stages, plan, text, index)

        tasks = [asyncio.create_task(generate(index, chunk.text)) for index, chunk in enumerate(chunks)]
        try:
            results = await asyncio.gather(*tasks)
        finally:  # one chunk failed, or the client left: the others need not be generated
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert all(result.audio is not None for result in results)
        rate = results[0].audio.sample_rate
        gaps = [round(chunk.pause_before * rate) for chunk in chunks] + [round(plan.script.trailing_pause * rate)]
        clips = [result.audio.to_array() for result in results] + [np.zeros(0, dtype=np.float32)]
        joined = await run_in_threadpool(crossfade_join, clips, rate, configured.crossfade_ms, gaps)
        return JobResult(
            audio=AudioPayload.from_array(joined, rate),
            chunks=len(results),
            conditioning_cache_hit=results[0].conditioning_cache_hit,
            generation_seconds=time.perf_counter() - started,
            text_tokens=sum(result.text_tokens for result in results),
            speech_tokens=sum(result.speech_tokens for result in results),
        )
