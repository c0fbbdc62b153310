"""How `authserver serve` listens: uvloop, each worker with a listening socket of its own that it
drains in batches.

Why not uvicorn's defaults: libuv (under uvloop) accepts one connection per turn of the event
loop (libuv pull request #3696), and `--workers N` share one listening socket. On an idle server a
turn is short and that costs nothing. Under load a turn lasts as long as every ready request
takes, so a burst of new keep-alive connections (a load balancer opening its pool, clients
reconnecting after a deploy) waits one busy turn per connection and the last of them waits for
all: with 64 new connections on two busy workers, first answers came 2-270 ms after the request,
one more connection every ~8 ms (docs/architecture.md, "Serving").

Accepting many connections per wake-up from the shared socket is no cure: whichever worker wakes
first takes the burst, and measured splits of 64 connections went 64/0, 63/1 and 52/12, halving
throughput for as long as the connections live. So each worker binds a socket of its own to the
same address with `SO_REUSEPORT`; the kernel spreads new connections over the workers' sockets by
a hash of their addresses, and each worker accepts up to `ACCEPT_BATCH` of its own at a time.

`bind_shared_address` (in the supervising process) holds the address for the workers and refuses
one that another process already listens on, so a second `serve` on the same port fails instead
of quietly sharing its traffic. Trade-off: connections waiting in a worker's queue when that
worker exits are reset rather than taken by another worker (the kernel does not move them unless
`net.ipv4.tcp_migrate_req` is set); a stopping server refuses them anyway.

Where a worker cannot have a socket of its own (no `SO_REUSEPORT`, or a socket uvicorn was handed
from elsewhere), `create_server` is uvloop's own.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

ACCEPT_BATCH = 16
# Out of file descriptors or kernel memory: accepting again at once would spin; asyncio waits 1 s.
PAUSE_AFTER_RESOURCE_ERROR_SECONDS = 1.0
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

logger = logging.getLogger("authserver.http")


def bind_shared_address(host: str, port: int) -> socket.socket:
    """The supervisor's socket: bound (not listening) with `SO_REUSEPORT`, so that each worker can
    bind one of its own beside it. Raises OSError when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # First without SO_REUSEPORT: that bind fails if anything (another `serve` included) holds
    # the port, which a bind with SO_REUSEPORT would join instead.
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        address = probe.getsockname()
    shared = socket.socket(family, socket.SOCK_STREAM)
    try:
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        shared.bind(address)
    except OSError:
        shared.close()
        raise
    shared.set_inheritable(True)
    return shared


def own_listening_socket(shared: socket.socket) -> socket.socket | None:
    """A socket of this worker's own on `shared`'s address, or None where the kernel will not
    allow one (shared not bound with SO_REUSEPORT, or no such option here)."""
    if not hasattr(socket, "SO_REUSEPORT") or shared.type != socket.SOCK_STREAM:
        return None
    if shared.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if not shared.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
        return None
    own = socket.socket(shared.family, socket.SOCK_STREAM)
    try:
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        own.bind(shared.getsockname())
    except OSError:
        own.close()
        return None
    return own


class BatchListener(asyncio.AbstractServer):
    """One worker's own listening socket, accepted from in batches. `close` closes it, so the
    kernel sends new connections to the other workers at once (open connections stay with
    uvicorn, which drains them on shutdown)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        backlog: int,
    ) -> None:
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._sock = sock
        self._connecting: set[asyncio.Task[Any]] = set()
        self._serving = False
        self._closed = asyncio.Event()
        sock.setblocking(False)
        sock.listen(backlog)
        self._start_accepting()

    def _start_accepting(self) -> None:
        if not self._serving and not self._closed.is_set():
            self._loop.add_reader(self._sock.fileno(), self._accept_waiting)
            self._serving = True

    def _stop_accepting(self) -> None:
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
            self._serving = False

    def _accept_waiting(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                connection, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # nothing more waiting
            except ConnectionAbortedError:
                continue  # the client gave up before we accepted
            except OSError as error:
                if error.errno not in _RESOURCE_ERRORS:
                    raise
                logger.warning(
                    "cannot accept connections (%s); retrying in %.0f s",
                    errno.errorcode.get(error.errno or 0, str(error.errno)),
                    PAUSE_AFTER_RESOURCE_ERROR_SECONDS,
                )
                self._stop_accepting()
                self._loop.call_later(PAUSE_AFTER_RESOURCE_ERROR_SECONDS, self._start_accepting)
                return
            connection.setblocking(False)
            # uvloop builds the transport and calls connection_made before the task's first
            # await; the task only waits for that and holds no request.
            task = self._loop.create_task(self._connect(connection))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except OSError:
            connection.close()  # reset by the peer while being set up: nothing to serve

    # asyncio.AbstractServer
    def close(self) -> None:
        self._stop_accepting()
        if not self._closed.is_set():
            self._closed.set()
            self._sock.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start_accepting()

    async def serve_forever(self) -> None:
        await self._closed.wait()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)


class BatchAcceptLoop(uvloop.Loop):
    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: Any = None,
        port: Any = None,
        *,
        sock: socket.socket | None = None,
        ssl: Any = None,
        backlog: int = 100,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        own = None
        if sock is not None and ssl is None and not kwargs:
            own = own_listening_socket(sock)
        if own is None:
            return await super().create_server(
                protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog, **kwargs
            )
        return BatchListener(self, protocol_factory, own, backlog)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """What uvicorn's `loop="authserver.http.event_loop:new_event_loop"` calls in each worker."""
    return BatchAcceptLoop()
