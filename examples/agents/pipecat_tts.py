"""Pipecat's `OpenAITTSService` pointed at this server, in a pipeline as a bot runs it (text in,
24 kHz PCM frames out), without a transport so it runs anywhere. Pipecat refuses every voice
name but OpenAI's own before it sends anything, so a Pipecat bot reaches this server's voices
through `openai.default_voice` (what `nova` and the other OpenAI names speak with when no
alias or library voice has that name) or through `openai.voice_aliases`.

    CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... python examples/agents/pipecat_tts.py [VOICE]
"""

from __future__ import annotations

import asyncio
import os
import sys

from loguru import logger
from pipecat.frames.frames import EndFrame, ErrorFrame, Frame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.tts import OpenAITTSService


class AudioCollector(FrameProcessor):
    """Where a transport would play the audio: here it is counted (and errors kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = bytearray()
        self.errors: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio += frame.audio
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame.error)
        await self.push_frame(frame, direction)


async def speak(voice: str) -> None:
    tts = OpenAITTSService(
        base_url=os.environ.get("CHATTERBOX_URL", "http://localhost:3000") + "/v1",
        api_key=os.environ.get("CHATTERBOX_API_KEY") or "no-key",
        settings=OpenAITTSService.Settings(voice=voice, model="gpt-4o-mini-tts"),
    )
    collector = AudioCollector()
    task = PipelineTask(Pipeline([tts, collector]))
    await task.queue_frames([TTSSpeakFrame("Hello from a Pipecat bot. This is its second sentence."), EndFrame()])
    await PipelineRunner(handle_sigint=False).run(task)
    if collector.errors:
        sys.exit(f"pipecat: {collector.errors}")
    print(f"pipecat: {len(collector.audio)} bytes, {len(collector.audio) / 2 / tts.sample_rate:.3f} s of {tts.sample_rate} Hz PCM")


if __name__ == "__main__":
    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # Pipecat logs every frame's journey at DEBUG
    asyncio.run(speak(sys.argv[1] if len(sys.argv) > 1 else "nova"))
