"""A WebSocket session's sentences spoken in order into one audio stream.

Each sentence is cut into chunks (a long one, or one with `[pause:...]`, makes several) that
the runner decodes and renders in windows, as a streamed `/api/v1/tts` group is; the next
chunk is opened (generated) while the current one is joined, so one sentence is heard while
the next is made. Chunks are joined with the same crossfade and pauses as every other output,
into one encoder, so the session's audio is one seamless stream, and the service knows where
each sentence starts and ends in it (the `sentence` events).

Joining and encoding run on one thread of the session's own, in the order they were asked:
a cancel never lets one call overtake another. A cancel stops the chunks being generated
(the runner takes them out of its loop) and drops the sentences not yet spoken; the stream
goes on with whatever text comes next.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pydantic import BaseModel

from api.chunk_windows import ChunkWindows
from api.realtime_outbox import Outbox
from api.realtime_protocol import SentenceEvent
from api.speech_stream import Stretch, join_group
from audio.crossfade import StreamingJoiner
from audio.encoding import EncodeSpec
from audio.stream_encoding import StreamEncoder
from text.chunks import SpeechChunk

OpenChunk = Callable[[str, int], ChunkWindows]  # (chunk text, seed index) -> its windows, generated from now on
KEPT_IN_MEMORY_BYTES = 1024 * 1024  # of the copy to store; more goes to a temporary file


@dataclass(frozen=True)
class Utterance:
    """One sentence as the session received it, and the chunks it is spoken in."""

    index: int
    text: str
    chunks: list[SpeechChunk]
    trailing_pause: float


@dataclass
class _Part:
    utterance: Utterance
    number: int  # which of the utterance's chunks
    seed_index: int
    windows: ChunkWindows | None = None

    @property
    def last(self) -> bool:
        return self.number == len(self.utterance.chunks) - 1


class StreamSpeaker:
    def __init__(self, *, open_chunk: OpenChunk, stretch: Stretch | None, spec: EncodeSpec, source_rate: int, crossfade_ms: int, outbox: Outbox, keep: bool) -> None:
        self.open_chunk = open_chunk
        self.stretch = stretch
        self.spec = spec
        self.source_rate = source_rate
        self.outbox = outbox
        self.overlap = int(source_rate * crossfade_ms / 1000)
        self.spoken: list[Utterance] = []
        self.windows = 0
        self.finished = False
        self._parts: deque[_Part] = deque()
        self._current: _Part | None = None
        self._arrived = asyncio.Event()
        self._input_ended = False
        self._cancels = 0
        self._seed_index = 0
        self._pending_gap = 0  # samples: the last sentence's trailing pause, before the next one
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="realtime-audio")
        self._kept = tempfile.SpooledTemporaryFile(max_size=KEPT_IN_MEMORY_BYTES) if keep else None
        self._encoder: StreamEncoder | None = None
        self._joiner: StreamingJoiner | None = None

    @property
    def waiting_chars(self) -> int:
        """Characters of the sentences not yet spoken (the one being spoken included)."""
        current = [self._current] if self._current is not None else []
        return sum(len(part.utterance.chunks[part.number].text) for part in [*current, *self._parts])

    @property
    def busy(self) -> bool:
        """Something is being spoken or waits to be."""
        return self._current is not None or bool(self._parts)

    async def _run(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A blocking call on the session's audio thread, once the outbox has room (a client
        that reads slowly holds generation back, not memory)."""
        await self.outbox.room()
        return await asyncio.get_running_loop().run_in_executor(self._thread, partial(call, *args, **kwargs))

    def _received(self, loop: asyncio.AbstractEventLoop, data: bytes) -> None:
        """Encoded audio (from the audio thread, or ffmpeg's reader): to the client, and kept."""
        if self._kept is not None:
            self._kept.write(data)
        loop.call_soon_threadsafe(self.outbox.put, data)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._encoder = await self._run(StreamEncoder, self.spec, self.source_rate, partial(self._received, loop))
        self._joiner = StreamingJoiner(self._encoder, self.overlap)

    def add(self, utterance: Utterance) -> None:
        for number in range(len(utterance.chunks)):
            self._parts.append(_Part(utterance, number, self._seed_index))
            self._seed_index += 1
        self._arrived.set()
        if self._current is not None:
            self._open_ahead()

    def end_input(self) -> None:
        self._input_ended = True
        self._arrived.set()

    def _open(self, part: _Part) -> ChunkWindows:
        if part.windows is None:
            part.windows = self.open_chunk(part.utterance.chunks[part.number].text, part.seed_index)
        return part.windows

    def _open_ahead(self) -> None:
        if self._parts:
            self._open(self._parts[0])

    async def cancel(self) -> int:
        """Stops what is being generated and drops what waits; returns how many sentences
        were not (wholly) spoken."""
        self._cancels += 1
        parts = [self._current] if self._current is not None else []
        parts += list(self._parts)
        self._parts.clear()
        await asyncio.gather(*(part.windows.close() for part in parts if part.windows is not None))
        return len({part.utterance.index for part in parts})

    async def _next_part(self) -> _Part | None:
        while not self._parts:
            if self._input_ended:
                return None
            self._arrived.clear()
            await self._arrived.wait()
        return self._parts.popleft()

    async def run(self) -> None:
        """Speaks every sentence added, until `end_input` and the last is spoken; then
        finishes the stream (the trailing pause, the encoder's last bytes)."""
        assert self._joiner is not None and self._encoder is not None
        joiner = self._joiner
        start = 0
        while (part := await self._next_part()) is not None:
            self._current = part
            cancels = self._cancels
            windows = self._open(part)
            self._open_ahead()
            gap = round(part.utterance.chunks[part.number].pause_before * self.source_rate)
            if part.number == 0:
                gap += self._pending_gap
                start = joiner.start_of_next(gap)
            try:
                self.windows += await join_group(joiner, windows, gap, self.stretch, self._run)
            finally:
                await windows.close()
                self._current = None
            if cancels != self._cancels:  # cut short: the sentence was not spoken whole
                self._pending_gap = 0
                continue
            if part.last:
                self._pending_gap = round(part.utterance.trailing_pause * self.source_rate)
                self.spoken.append(part.utterance)
                event = SentenceEvent(index=part.utterance.index, text=part.utterance.text, start=round(start / self.source_rate, 3), end=round(joiner.length / self.source_rate, 3))
                await self.send_event(event)
        if self._pending_gap:
            await self._run(joiner.add, np.zeros(0, dtype=np.float32), self._pending_gap)
        await self._run(joiner.finish)
        await self._run(self._encoder.finish)
        self.finished = True

    async def send_event(self, event: BaseModel) -> None:
        """`event` queued behind the audio encoded so far (through the audio thread)."""
        loop = asyncio.get_running_loop()
        await self._run(loop.call_soon_threadsafe, self.outbox.put, event.model_dump_json())

    @property
    def duration(self) -> float:
        return self._encoder.samples_written / self.spec.sample_rate if self._encoder is not None else 0.0

    def kept_file(self) -> bytes:
        """The whole stream as a file (WAV and FLAC headers completed); on the audio thread's
        side of `finish`."""
        assert self._kept is not None and self._encoder is not None and self.finished
        self._kept.seek(0)
        return self._encoder.as_file(self._kept.read())

    async def close(self) -> None:
        """Stops everything still running and lets go of the encoder and the kept copy."""
        await self.cancel()
        if self._encoder is not None and not self.finished:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._encoder.abort)
        self._thread.shutdown(wait=False)
        if self._kept is not None:
            self._kept.close()

