"""What one WebSocket session has to send, in order (audio bytes and JSON events), bounded.

Audio is produced as fast as the runner generates it; a client that reads slower (or not at
all) would otherwise make it pile up in memory. The speaker waits for `room` before it joins
more audio, so at most `limit_bytes` (and what one window adds) waits here, and generation
pauses with it; the sender gives up on a client that takes no frame for
`stalled_seconds` (`ClientStalled`), which ends the session and frees its generation slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

Frame = bytes | str  # binary audio, or a JSON event
_CLOSED = object()


class ClientStalled(Exception):
    pass


class Outbox:
    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.waiting_bytes = 0
        self._frames: deque[object] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def put(self, frame: Frame) -> None:
        """On the event loop (the encoder's thread goes through `call_soon_threadsafe`)."""
        self._frames.append(frame)
        self.waiting_bytes += len(frame)
        if self.waiting_bytes >= self.limit_bytes:
            self._room.clear()
        self._arrived.set()

    def close(self) -> None:
        """Nothing more will be put: the sender ends after what waits."""
        self._frames.append(_CLOSED)
        self._arrived.set()

    async def room(self) -> None:
        """Returns once less than `limit_bytes` waits to be sent."""
        await self._room.wait()

    async def _next(self) -> object:
        while not self._frames:
            self._arrived.clear()
            await self._arrived.wait()
        frame = self._frames.popleft()
        if frame is not _CLOSED:
            self.waiting_bytes -= len(frame)  # type: ignore[arg-type]
            if self.waiting_bytes < self.limit_bytes:
                self._room.set()
        return frame

    async def send_all(self, send_bytes: Callable[[bytes], Awaitable[None]], send_text: Callable[[str], Awaitable[None]], stalled_seconds: float) -> None:
        """Sends every frame in order until `close`; raises `ClientStalled` when one send
        waits longer than `stalled_seconds` (the client stopped reading)."""
        while (frame := await self._next()) is not _CLOSED:
            sending = send_bytes(frame) if isinstance(frame, bytes) else send_text(frame)  # type: ignore[arg-type]
            try:
                await asyncio.wait_for(sending, stalled_seconds)
            except TimeoutError:
                raise ClientStalled(f"the client read nothing for {stalled_seconds:g} s") from None
