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
one that anything already holds, so a second `serve` on the same port fails instead of quietly
sharing its traffic. The trade-offs (docs/architecture.md, "Serving"): the kernel hashes a new
connection to a worker whatever that worker is doing, so connections waiting in the queue of a
worker that stalls wait with it, and those waiting when a worker exits (a crash, a SIGHUP
restart) are reset rather than taken by another worker (unless `net.ipv4.tcp_migrate_req` is set);
and any process of the same user that binds with `SO_REUSEPORT` joins the group.

A socket not bound by `bind_shared_address` (no `SO_REUSEPORT`: uvicorn run some other way) gets
uvloop's own `create_server`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop
from uvicorn.config import STARTUP_FAILURE

ACCEPT_BATCH = 16
# Out of file descriptors or kernel memory: accepting again at once would spin; asyncio waits 1 s.
PAUSE_AFTER_RESOURCE_ERROR_SECONDS = 1.0
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

logger = logging.getLogger("authserver.http")


def bind_shared_address(host: str, port: int) -> socket.socket:
    """The supervisor's socket: bound (not listening) with `SO_REUSEPORT`, so that each worker
    can bind one of its own beside it. Raises OSError when the address is taken or cannot be
    bound."""
    family, address = _resolve(host, port)
    # First a plain bind (SO_REUSEADDR only, as any server does), which fails if anything holds
    # the port: another `serve` included, which a bind with SO_REUSEPORT would join instead.
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        address = probe.getsockname()
    shared = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR too, or a restart fails while the last run's connections sit in TIME_WAIT.
        # It lets another SO_REUSEADDR socket bind beside this one until our workers listen:
        # `claim_address` keeps another `serve` out, and a worker that then finds the address
        # taken exits 3 (`own_listening_socket`).
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        shared.bind(address)
    except OSError:
        shared.close()
        raise
    shared.set_inheritable(True)
    return shared


def claim_address(host: str, port: int) -> socket.socket:
    """Hold the address against another `serve` for as long as the returned socket is open.

    Two `serve`s starting at the same moment can both pass `bind_shared_address`'s plain bind
    before either binds with SO_REUSEPORT, and would then share one group. Binding a name in
    Linux's abstract Unix socket namespace is atomic, per network namespace like the port, and
    released when the process ends however it ends. Keyed by address family and port, so
    127.0.0.1 and 0.0.0.0 on one port exclude each other while ::1 beside 127.0.0.1 works.
    """
    family, _address = _resolve(host, port)
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0authserver-serve-{family.name}-{port}")
    except OSError:
        claim.close()
        raise OSError(errno.EADDRINUSE, "Address already in use (by another authserver serve)") from None
    return claim


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """The first address `host` names, with an IPv6 scope (`fe80::1%eth0`) kept."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _type, _proto, _name, address = found[0]
    return family, address


def display_address(host: str, port: int) -> str:
    """host:port as a URL writes it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_address(sock: socket.socket) -> str:
    return display_address(*sock.getsockname()[:2])


def own_listening_socket(shared: socket.socket) -> socket.socket | None:
    """A socket of this worker's own on `shared`'s address; None where `shared` was not bound for
    sharing (not by `bind_shared_address`). Raises OSError when it was but the bind fails: a worker
    must not come up listening on nothing."""
    if shared.type != socket.SOCK_STREAM or shared.family not in (socket.AF_INET, socket.AF_INET6):
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
        raise
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
        self._starved = False  # warned that accepting failed, until one succeeds again
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
                if not self._starved:
                    logger.warning(
                        "cannot accept connections (%s); retrying every %.0f s",
                        errno.errorcode.get(error.errno or 0, str(error.errno)),
                        PAUSE_AFTER_RESOURCE_ERROR_SECONDS,
                    )
                    self._starved = True
                self._stop_accepting()
                self._loop.call_later(PAUSE_AFTER_RESOURCE_ERROR_SECONDS, self._start_accepting)
                return
            if self._starved:
                logger.warning("accepting connections again")
                self._starved = False
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
            try:
                own = own_listening_socket(sock)
            except OSError as error:
                # Something took the address between the supervisor's bind and ours. Exit code 3
                # tells uvicorn's supervisor that a restart would fail the same way.
                logger.error("cannot listen on %s: %s", bound_address(sock), error.strerror or error)
                raise SystemExit(STARTUP_FAILURE) from None
        if own is None:
            return await super().create_server(
                protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog, **kwargs
            )
        return BatchListener(self, protocol_factory, own, backlog)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """What uvicorn's `loop="authserver.http.event_loop:new_event_loop"` calls in each worker."""
    return BatchAcceptLoop()
