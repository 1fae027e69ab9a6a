"""LiveKit Agents' OpenAI TTS plugin pointed at this server: the plugin an agent's `AgentSession`
speaks with (`tts=openai.TTS(...)`), asked for speech directly so the example runs without a
LiveKit room. It sends what it sends to OpenAI: `/v1/audio/speech` with `stream_format=sse`
(mp3 inside), or plain audio for the `tts-1` models; the server answers both.

    CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... python examples/agents/livekit_tts.py [VOICE] [RESPONSE_FORMAT]

VOICE: a library voice, an alias, or an OpenAI voice name (`ash`, the plugin's default, speaks
with the server's `openai.default_voice`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from livekit.plugins import openai


async def speak(voice: str, response_format: str) -> None:
    tts = openai.TTS(
        base_url=os.environ.get("CHATTERBOX_URL", "http://localhost:3000") + "/v1",
        api_key=os.environ.get("CHATTERBOX_API_KEY") or "no-key",  # the plugin insists on one; the server ignores it when keys are off
        model="gpt-4o-mini-tts",  # any OpenAI model name: the server maps it to its default model
        voice=voice,
        response_format=response_format,
    )
    try:
        frames = [event.frame async for event in tts.synthesize("Hello from a LiveKit agent. The room hears this sentence.")]
    finally:
        await tts.aclose()
    samples = sum(frame.samples_per_channel for frame in frames)
    print(f"livekit {response_format}: {len(frames)} frames, {samples / tts.sample_rate:.3f} s at {tts.sample_rate} Hz")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(speak(sys.argv[1] if len(sys.argv) > 1 else "ash", sys.argv[2] if len(sys.argv) > 2 else "mp3"))
