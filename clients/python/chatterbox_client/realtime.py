"""Speech from text while it is being written: `/api/v1/tts/stream` over a WebSocket
(docs/realtime.md). `Client.speak_live(...)` opens a `LiveSpeech`; send text in pieces as it
comes (an LLM's tokens), and read the audio and events as they are ready:

    with client.speak_live(voice="alex", response_format="pcm") as live:
        for item in live.speak(token_stream):        # sends each piece, then `end`
            if isinstance(item, bytes): player.write(item)
            elif item.type == "sentence": print(item.text, item.start, item.end)

Sending and reading may happen on different threads (`speak` sends from one of its own), so
a `cancel` can go out while audio is read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import TypeAdapter
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
            raise self._refusal(first)
        self.started: models.StartedEvent = first
        self._last_error: models.ErrorEvent | None = None

    def _send(self, message: dict[str, Any]) -> None:
        self._connection.send(json.dumps(message))

    def _next(self) -> bytes | LiveEvent | None:
        try:
            frame = self._connection.recv()
        except ConnectionClosed:
            return None
        return frame if isinstance(frame, bytes) else _EVENT.validate_json(frame)

    def _refusal(self, item: object) -> ChatterboxError:
        if isinstance(item, models.ErrorEvent):
            return error_from_event(item.error.model_dump())
        return ConnectionFailed(f"the session ended before it started ({item!r})")

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
        close = self._connection.close_code
        if close not in (None, 1000) and self._last_error is not None:
            raise error_from_event(self._last_error.error.model_dump())

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


def open_live_speech(base_url: str, api_key: str | None, start: dict[str, Any], open_timeout: float) -> LiveSpeech:
    url = base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/api/v1/tts/stream"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        connection = connect(url, additional_headers=headers, max_size=None, open_timeout=open_timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionFailed(f"could not open {url}: {exc}") from exc
    try:
        return LiveSpeech(connection, start)
    except BaseException:
        connection.close()
        raise
