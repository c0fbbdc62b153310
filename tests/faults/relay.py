"""A TCP relay between a server under test and PostgreSQL, that a test can cut or make hang.

Runs its own event loop in a thread, so the test (and the server processes) see it as an outside
network element:
- `forward()`: pipe bytes both ways (normal operation);
- `refuse()`: reset every open connection and stop listening, so new connections are refused
  (a database that went away);
- `hang()`: keep listening and accept, but forward nothing, on new and open connections alike
  (a database, or a network, that stops answering).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any


class Relay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.mode = "forward"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._listen)

    def _call(self, make: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=10)

    async def _listen(self) -> None:
        if not hasattr(self, "_flowing"):
            self._flowing = asyncio.Event()
            self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode != "forward":
            return  # hang: hold the connection open, forward nothing
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # while hung, hold the bytes: nothing gets through
                if self.mode != "forward":
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    def forward(self) -> None:
        async def go() -> None:
            self.mode = "forward"
            self._flowing.set()
            if self._server is None:
                await self._listen()

        self._call(go)

    def refuse(self) -> None:
        async def go() -> None:
            self.mode = "refuse"
            self._flowing.set()  # held pipes wake up, see the mode, and close
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()  # RST: the peer sees a reset connection
            self._writers.clear()

        self._call(go)

    def hang(self) -> None:
        async def go() -> None:
            self.mode = "hang"
            self._flowing.clear()
            if self._server is None:
                await self._listen()

        self._call(go)

    def close(self) -> None:
        self.refuse()

        async def settle() -> None:
            await asyncio.sleep(0.1)  # let aborted transports and pipes finish
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._call(settle)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
