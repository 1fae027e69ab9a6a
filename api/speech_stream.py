"""Speech sent while it is generated.

The text is cut into sentence groups (a short first one), and each group is one chunk the
runner decodes and renders in windows (`models/chunk_stream.py`): its first window leaves
after about a second of speech is decoded, before the sentence is finished. Windows of a
group join seamlessly (the runner crossfades them); groups are joined with the same
equal-power crossfade as whole outputs (and the text's pauses), and one encoder (one soxr
resampler, one ffmpeg process) carries the whole response, so the seams are as clean as in
a file generated in one piece. While group N is heard, group N+1 is already being generated.
With a speed other than 1, each group is stretched whole (a stretch needs the whole group),
so audio leaves group by group.

A listener who hangs up stops the work: the disconnect cancels the chunks in flight (the
runner takes them out of its loop) and no further group is asked for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.chunk_windows import ChunkWindows
from api.errors import APIError
from api.openai_protocol import OpenAIErrorDetail, SpeechAudioDelta, SpeechAudioDone, SpeechUsage
from audio.crossfade import StreamingJoiner
from audio.encoding import EncodeSpec
from audio.stream_encoding import StreamEncoder
from lifecycle.drain import ShuttingDownError
from lifecycle.hangups import wait_for_disconnect

logger = logging.getLogger(__name__)

OpenChunk = Callable[[int], ChunkWindows]  # chunk index -> its windows, being generated from now on
Stretch = Callable[[np.ndarray], Awaitable[np.ndarray]]  # speed change, in the thread pool
RunBlocking = Callable[..., Awaitable[Any]]  # runs a blocking call (joining, encoding) off the event loop
_END = object()


async def join_group(joiner: StreamingJoiner, chunk: ChunkWindows, gap: int, stretch: Stretch | None, run: RunBlocking) -> int:
    """One group's audio into the joiner, `gap` samples of silence before it: window by
    window (the runner joined them already), or stretched whole. Returns the windows read."""
    if stretch is not None:
        samples = [window async for window in chunk.windows()]
        whole = np.concatenate(samples) if samples else np.zeros(0, dtype=np.float32)
        await run(joiner.add, await stretch(whole), gap)
        return len(samples)
    windows = 0
    async for window in chunk.windows():
        await run(partial(joiner.add, gap=gap) if windows == 0 else joiner.extend, window)
        windows += 1
    if windows == 0:  # a group without audio still keeps its pause
        await run(joiner.add, np.zeros(0, dtype=np.float32), gap)
    return windows


class SpeechStream:
    """One streamed speech response. `first` is the first group, opened and ready (its first
    window arrived) before the response starts, so its failures still get a proper status;
    `on_complete` gets the whole encoded file and its seconds once every group was sent
    (see `stored`). `pauses`: seconds of silence before each group (its length is the
    number of groups), then `trailing_pause` after the last. `stretch`: the speed change,
    None at speed 1."""

    def __init__(
        self,
        *,
        pauses: list[float],
        trailing_pause: float,
        first: ChunkWindows,
        open_chunk: OpenChunk,
        stretch: Stretch | None,
        spec: EncodeSpec,
        source_rate: int,
        crossfade_ms: int,
        request: Request,
        on_complete: Callable[[bytes, float], Awaitable[None]] | None = None,
    ) -> None:
        self.chunk_count = len(pauses)
        self.first = first
        self.open_chunk = open_chunk
        self.stretch = stretch
        self.spec = spec
        self.source_rate = source_rate
        self.gaps = [round(seconds * source_rate) for seconds in [*pauses, trailing_pause]]
        self.overlap = int(source_rate * crossfade_ms / 1000)
        self.request = request
        self.on_complete = on_complete
        self.text_tokens = 0
        self.speech_tokens = 0
        self.windows = 0  # pieces of audio the runners sent (more than one a group: audio left before its sentence was decoded)
        self.completed = False
        self._chunks: list[ChunkWindows] = [first]
        self._tasks: list[asyncio.Task[Any]] = []
        self._encoded: list[bytes] = []  # what the client got, kept for on_complete
        self._storing: asyncio.Task[None] | None = None
        # the second group starts now, not when the response does
        self._next = self._open(1) if self.chunk_count > 1 else None

    def _open(self, index: int) -> ChunkWindows:
        chunk = self.open_chunk(index)
        self._chunks.append(chunk)
        return chunk

    @property
    def usage(self) -> SpeechUsage:
        return SpeechUsage(input_tokens=self.text_tokens, output_tokens=self.speech_tokens, total_tokens=self.text_tokens + self.speech_tokens)

    async def _produce(self, encoder: StreamEncoder, queue: asyncio.Queue[Any]) -> None:
        try:
            joiner = StreamingJoiner(encoder, self.overlap)
            chunk = self.first
            for index in range(self.chunk_count):
                if index > 0:
                    assert self._next is not None
                    chunk = self._next
                    self._next = self._open(index + 1) if index + 1 < self.chunk_count else None
                self.windows += await join_group(joiner, chunk, self.gaps[index], self.stretch, run_in_threadpool)
                self.text_tokens += chunk.totals.text_tokens
                self.speech_tokens += chunk.totals.speech_tokens
            if self.gaps[-1]:
                await run_in_threadpool(joiner.add, np.zeros(0, dtype=np.float32), self.gaps[-1])
            await run_in_threadpool(joiner.finish)
            await run_in_threadpool(encoder.finish)
            self.completed = True
            queue.put_nowait(_END)  # the client's response ends here; storing does not delay it
            if self.on_complete is not None:
                self._storing = asyncio.create_task(self._store(encoder))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, ShuttingDownError):
                logger.warning("speech stream cut by the shutdown drain", extra={"path": self.request.url.path})
            elif not isinstance(exc, APIError):
                logger.exception("speech stream failed")
            queue.put_nowait(exc)

    async def _store(self, encoder: StreamEncoder) -> None:
        assert self.on_complete is not None
        data = await run_in_threadpool(lambda: encoder.as_file(b"".join(self._encoded)))
        self._encoded.clear()
        await self.on_complete(data, encoder.samples_written / self.spec.sample_rate)

    async def stored(self) -> None:
        """Waits for the stored copy to be written (the response is over by then, but the
        request lasts until it is, so a graceful shutdown waits for it too)."""
        if self._storing is not None:
            await self._storing

    def _received(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], data: bytes) -> None:
        """The encoder's output (from its thread): to the client, and kept when it is to be stored."""
        if self.on_complete is not None:
            self._encoded.append(data)
        loop.call_soon_threadsafe(queue.put_nowait, data)

    async def _stop_on_disconnect(self, producer: asyncio.Task[None], queue: asyncio.Queue[Any]) -> None:
        await wait_for_disconnect(self.request)
        logger.info("client disconnected: speech generation stopped", extra={"path": self.request.url.path})
        producer.cancel()
        queue.put_nowait(_END)

    async def audio(self) -> AsyncIterator[bytes]:
        """The encoded audio, piece by piece as the encoder produces it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        encoder = await run_in_threadpool(StreamEncoder, self.spec, self.source_rate, partial(self._received, loop, queue))
        producer = asyncio.create_task(self._produce(encoder, queue))
        self._tasks += [producer, asyncio.create_task(self._stop_on_disconnect(producer, queue))]
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.close()
            if not self.completed:
                await run_in_threadpool(encoder.abort)

    async def sse(self) -> AsyncIterator[bytes]:
        """OpenAI's server-sent events: `speech.audio.delta` with base64 audio, then
        `speech.audio.done` with the usage (or an `error` event when generation failed)."""
        try:
            async for data in self.audio():
                yield _event(SpeechAudioDelta(audio=base64.b64encode(data).decode()).model_dump())
        except APIError as exc:
            yield _error_event(OpenAIErrorDetail(message=exc.message, type="server_error", param=exc.field, code=exc.error_type))
            return
        except ShuttingDownError:
            yield _error_event(OpenAIErrorDetail(message="the server shut down before the speech was finished; retry", type="server_error", code="shutting_down"))
            return
        except Exception:
            yield _error_event(OpenAIErrorDetail(message="speech generation failed; see the server log", type="server_error", code="model_error"))
            return
        if self.completed:
            yield _event(SpeechAudioDone(usage=self.usage).model_dump())

    async def close(self) -> None:
        """Cancel whatever still runs (groups being generated, the disconnect watch)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *(chunk.close() for chunk in self._chunks), return_exceptions=True)


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def _error_event(error: OpenAIErrorDetail) -> bytes:
    return _event({"type": "error", "error": error.model_dump()})


class SpeechStreamingResponse(StreamingResponse):
    """Cleans up after the stream however it ended, even when the body never started
    (the client left first): pending generation cancelled, the generation slot freed."""

    def __init__(self, stream: SpeechStream, *, sse: bool, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(stream.sse() if sse else stream.audio(), **kwargs)
        self.stream = stream
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.stream.close()
            try:
                await self.stream.stored()
            finally:
                self.on_close()
