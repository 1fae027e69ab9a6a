"""Speech from text while it is being written: `/api/v1/tts/stream` over a WebSocket
(docs/realtime.md). `Client.speak_live(...)` opens a `LiveSpeech`; send text in pieces as it
comes (an LLM's tokens), and read the audio and events as they are ready:

    with client.speak_live(voice="alex", response_format="pcm") as live:
        for item in live.speak(token_stream):        # sends each piece, then `end`
            if isinstance(item, bytes): player.write(item)
            elif item.type == "sentence": print(item.text, item.start, item.end)

Sending and reading may happen on different threads (`speak` sends from one of its own), so
a `cancel` can go out while audio is read. `AsyncClient.speak_live` opens an `AsyncLiveSpeech`
with the same methods, awaited (`speak` takes an iterable or an async iterable of pieces).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chatterbox_client import models
from chatterbox_client.errors import ChatterboxError, ConnectionFailed, error_from_event

LiveEvent = models.StartedEvent | models.SentenceEvent | models.CancelledEvent | models.DoneEvent | models.ErrorEvent
_EVENT: TypeAdapter[Any] = TypeAdapter(LiveEvent)


class LiveSpeech:
    """One session: `started` says what it speaks with; iterate for audio (`bytes`) and events
    until the server closes. An `error` event that ends the session is raised as the typed
    exception once the close arrives; one that does not (a piece over the buffer limit, a
    sentence with a bad pause tag) is yielded like any event."""

    def __init__(self, connection: ClientConnection, start: dict[str, Any]) -> None:
        self._connection = connection
        self._send(start)
        first = self._next()
        if not isinstance(first, models.StartedEvent):
            raise refusal(first)
        self.started: models.StartedEvent = first
        self._last_error: models.ErrorEvent | None = None

    def _send(self, message: dict[str, Any]) -> None:
        self._connection.send(json.dumps(message))

    def _next(self) -> bytes | LiveEvent | None:
        try:
            return parsed(self._connection.recv())
        except ConnectionClosed:
            return None

    def send_text(self, text: str) -> None:
        """More text, cut anywhere: each sentence is spoken once its end is seen."""
        self._send({"type": "text", "text": text})

    def flush(self) -> None:
        """Speak what is buffered now, without waiting for a sentence end."""
        self._send({"type": "flush"})

    def cancel(self) -> None:
        """Stop at once (barge-in): what is being generated stops, what waits is dropped."""
        self._send({"type": "cancel"})

    def end(self) -> None:
        """Speak the rest and finish: a `done` event, then the server closes."""
        self._send({"type": "end"})

    def __iter__(self) -> Iterator[bytes | LiveEvent]:
        while (item := self._next()) is not None:
            if isinstance(item, models.ErrorEvent):
                self._last_error = item
            yield item
        ended_by(self._connection.close_code, self._last_error)

    def speak(self, pieces: Iterable[str]) -> Iterator[bytes | LiveEvent]:
        """Sends `pieces` (from a thread of its own, as they come) and then `end`, while
        yielding what comes back, until the session closes."""
        failure: list[BaseException] = []

        def feed() -> None:
            try:
                for piece in pieces:
                    self.send_text(piece)
                self.end()
            except BaseException as exc:  # re-raised below, on the reading thread
                failure.append(exc)

        sender = threading.Thread(target=feed, name="chatterbox-live-sender", daemon=True)
        sender.start()
        yield from self
        sender.join()
        if failure and not isinstance(failure[0], ConnectionClosed):
            raise failure[0]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LiveSpeech:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def live_start(voice: str | None, model: str | None, response_format: str, store: bool, parameters: dict[str, Any]) -> dict[str, Any]:
    """The `start` message, without what was not given (the server's defaults apply)."""
    start = {"type": "start", "voice": voice, "model": model, "response_format": response_format, "store": store, **parameters}
    return {key: value for key, value in start.items() if value is not None}


def refusal(item: object) -> ChatterboxError:
    """What a session that ended before `started` raises."""
    if isinstance(item, models.ErrorEvent):
        return error_from_event(item.error.model_dump())
    return ConnectionFailed(f"the session ended before it started ({item!r})")


def ended_by(close_code: int | None, last_error: models.ErrorEvent | None) -> None:
    """A session closed abnormally after an `error` event raises that error, typed."""
    if close_code not in (None, 1000) and last_error is not None:
        raise error_from_event(last_error.error.model_dump())


def parsed(frame: str | bytes) -> bytes | LiveEvent:
    return frame if isinstance(frame, bytes) else _EVENT.validate_json(frame)


def stream_url(base_url: str, api_key: str | None) -> tuple[str, dict[str, str]]:
    url = base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/api/v1/tts/stream"
    return url, {"Authorization": f"Bearer {api_key}"} if api_key else {}


class AsyncLiveSpeech:
    """`LiveSpeech` for asyncio: open it with `await AsyncClient.speak_live(...)`."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._last_error: models.ErrorEvent | None = None
        self.started: models.StartedEvent

    async def _begin(self, start: dict[str, Any]) -> AsyncLiveSpeech:
        await self._send(start)
        first = await self._next()
        if not isinstance(first, models.StartedEvent):
            raise refusal(first)
        self.started = first
        return self

    async def _send(self, message: dict[str, Any]) -> None:
        await self._connection.send(json.dumps(message))

    async def _next(self) -> bytes | LiveEvent | None:
        try:
            return parsed(await self._connection.recv())
        except ConnectionClosed:
            return None

    async def send_text(self, text: str) -> None:
        await self._send({"type": "text", "text": text})

    async def flush(self) -> None:
        await self._send({"type": "flush"})

    async def cancel(self) -> None:
        await self._send({"type": "cancel"})

    async def end(self) -> None:
        await self._send({"type": "end"})

    async def __aiter__(self) -> AsyncIterator[bytes | LiveEvent]:
        while (item := await self._next()) is not None:
            if isinstance(item, models.ErrorEvent):
                self._last_error = item
            yield item
        ended_by(self._connection.close_code, self._last_error)

    async def speak(self, pieces: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[bytes | LiveEvent]:
        """Sends `pieces` (as they come, from a task of its own) and then `end`, while
        yielding what comes back, until the session closes."""

        async def feed() -> None:
            if isinstance(pieces, AsyncIterable):
                async for piece in pieces:
                    await self.send_text(piece)
            else:
                for piece in pieces:
                    await self.send_text(piece)
            await self.end()

        sender = asyncio.create_task(feed())
        try:
            async for item in self:
                yield item
        finally:
            if not sender.done():
                sender.cancel()
            failures = await asyncio.gather(sender, return_exceptions=True)
        if isinstance(failures[0], Exception) and not isinstance(failures[0], ConnectionClosed):
            raise failures[0]

    async def close(self) -> None:
        await self._connection.close()

    async def __aenter__(self) -> AsyncLiveSpeech:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


async def open_async_live_speech(base_url: str, api_key: str | None, start: dict[str, Any], open_timeout: float) -> AsyncLiveSpeech:
    url, headers = stream_url(base_url, api_key)
    try:
        connection = await connect_async(url, additional_headers=headers, max_size=None, open_timeout=open_timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionFailed(f"could not open {url}: {exc}") from exc
    try:
        return await AsyncLiveSpeech(connection)._begin(start)
    except BaseException:
        await connection.close()
        raise


def open_live_speech(base_url: str, api_key: str | None, start: dict[str, Any], open_timeout: float) -> LiveSpeech:
    url, headers = stream_url(base_url, api_key)
    try:
        connection = connect(url, additional_headers=headers, max_size=None, open_timeout=open_timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionFailed(f"could not open {url}: {exc}") from exc
    try:
        return LiveSpeech(connection, start)
    except BaseException:
        connection.close()
        raise
