"""A TCP proxy the fault tests put between the service and moto: it can go down (every
connection dropped, new ones refused) and come back with moto's state intact, or forward
slowly. Restarting moto itself would lose every bucket, which is not an outage but a wipe.
With more than one target it balances each new connection to the next target in turn, as a
Kubernetes Service (kube-proxy) spreads connections over a runner's pods."""

from __future__ import annotations

import asyncio
import threading
from contextlib import suppress

from harness.processes import free_port

CHUNK = 1 << 16


class TCPProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.targets = [(target_host, target_port)]
        self._next = 0
        self.port = free_port()
        self.delay = 0.0  # seconds before each forwarded chunk: a slow endpoint
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TCPProxy:
        self._thread.start()
        self.up()
        return self

    def add_target(self, host: str, port: int) -> None:
        self.targets = [*self.targets, (host, port)]

    def remove_target(self, host: str, port: int) -> None:
        self.targets = [target for target in self.targets if target != (host, port)]

    def up(self) -> None:
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def down(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)

    def stop(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target = self.targets[self._next % len(self.targets)]
            self._next += 1
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, upstream_writer}
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, OSError):
            while data := await reader.read(CHUNK):
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        writer.close()
