"""authserver/http/event_loop.py: a listening socket per worker, drained in batches."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import cast

import pytest

from authserver.http import event_loop
from authserver.http.event_loop import (
    ACCEPT_BATCH,
    BatchAcceptLoop,
    BatchListener,
    bind_shared_address,
    bound_address,
    claim_address,
    own_listening_socket,
)


@contextmanager
def clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connected client sockets (the kernel completes them before anyone accepts)."""
    with ExitStack() as stack:
        made = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            made.append(sock)
        yield made


def accept_all(listening: socket.socket) -> int:
    listening.setblocking(False)
    taken = 0
    while True:
        try:
            connection, _ = listening.accept()
        except BlockingIOError:
            return taken
        connection.close()
        taken += 1


class Greeter(asyncio.Protocol):
    """Says hello on connect, so a client can tell it was accepted and served."""

    made = 0
    open: list[asyncio.Transport] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Greeter.made += 1
        served = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass asyncio's
        served.write(b"hello")
        Greeter.open.append(served)

    @classmethod
    def close_all(cls) -> None:
        while cls.open:
            cls.open.pop().close()


def test_each_worker_binds_its_own_socket_and_the_kernel_spreads_connections() -> None:
    """Two workers' sockets on one address: a burst of 64 connections reaches both (all 64 on
    one would happen with probability 2**-63), and none waits on the supervisor's socket."""
    with ExitStack() as stack:
        shared = stack.enter_context(bind_shared_address("127.0.0.1", 0))
        port = shared.getsockname()[1]
        workers = []
        for _ in range(2):
            own = own_listening_socket(shared)
            assert own is not None
            stack.enter_context(own)
            assert own.getsockname() == shared.getsockname()
            own.listen(128)
            workers.append(own)
        with clients(port, 64):
            taken = [accept_all(worker) for worker in workers]
    assert sum(taken) == 64
    assert min(taken) > 0, taken


def test_a_second_server_on_a_taken_port_is_refused() -> None:
    """SO_REUSEPORT would let a second `serve` on the same port join the first and take half its
    connections; the supervisor's bind refuses instead, and so it does for any plain server's
    port. (Before the first one's workers listen, `claim_address` keeps a second `serve` out.)"""
    with ExitStack() as stack:
        shared = stack.enter_context(bind_shared_address("127.0.0.1", 0))
        own = own_listening_socket(shared)
        assert own is not None
        stack.enter_context(own)
        own.listen(8)
        with pytest.raises(OSError) as refused:
            bind_shared_address("127.0.0.1", shared.getsockname()[1]).close()
        assert refused.value.errno == errno.EADDRINUSE

        plain = stack.enter_context(socket.socket())
        plain.bind(("127.0.0.1", 0))
        plain.listen(8)
        with pytest.raises(OSError):
            bind_shared_address("127.0.0.1", plain.getsockname()[1]).close()


def test_a_socket_not_bound_for_sharing_gets_uvloops_own_server() -> None:
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        assert own_listening_socket(plain) is None

        async def serve() -> None:
            server = await asyncio.get_running_loop().create_server(Greeter, sock=plain)
            assert not isinstance(server, BatchListener)
            server.close()

        loop = event_loop.new_event_loop()
        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()


def test_one_wakeup_accepts_a_batch_and_every_connection_is_served() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, BatchAcceptLoop)
        Greeter.made = 0
        with bind_shared_address("127.0.0.1", 0) as shared:
            server = await loop.create_server(Greeter, sock=shared, backlog=128)
            assert isinstance(server, BatchListener)
            assert server.sockets[0] is not shared  # the worker's own socket
            server._stop_accepting()  # drive the wake-ups by hand below
            waiting = ACCEPT_BATCH * 2 + 5
            with clients(shared.getsockname()[1], waiting) as connected:
                seen = []
                for _ in range(4):
                    server._accept_waiting()
                    await asyncio.sleep(0.01)
                    seen.append(Greeter.made)
                assert seen == [ACCEPT_BATCH, 2 * ACCEPT_BATCH, waiting, waiting]
                for sock in connected:
                    assert sock.recv(5) == b"hello"
            Greeter.close_all()
            server.close()
            await server.wait_closed()
            assert server.sockets[0].fileno() == -1  # closed: new connections go elsewhere

    loop = event_loop.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


class OutOfDescriptors(socket.socket):
    calls = 0

    def accept(self) -> tuple[socket.socket, object]:
        OutOfDescriptors.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_out_of_file_descriptors_pauses_accepting_then_resumes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """EMFILE leaves the connection waiting: accepting again at once would spin the loop, never
    again would strand it."""
    monkeypatch.setattr(event_loop, "PAUSE_AFTER_RESOURCE_ERROR_SECONDS", 0.05)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM) as listening:
            listening.bind(("127.0.0.1", 0))
            server = BatchListener(loop, Greeter, listening, 8)
            OutOfDescriptors.calls = 0
            with clients(listening.getsockname()[1], 1):
                await asyncio.sleep(0.02)
                assert not server.is_serving()
                assert OutOfDescriptors.calls == 1
                await asyncio.sleep(0.2)  # four pauses: tried again after each, not in between
            assert 3 <= OutOfDescriptors.calls <= 6, OutOfDescriptors.calls
            server.close()

    loop = event_loop.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING, logger="authserver.http"):
            loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert "cannot accept connections (EMFILE)" in caplog.text


def test_a_worker_that_cannot_bind_its_own_socket_stops_instead_of_listening_on_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Exit code 3 is uvicorn's "failed to start": its supervisor stops rather than restarting
    a worker that would fail the same way."""

    class Refused(socket.socket):
        def bind(self, address: object) -> None:
            raise OSError(errno.EADDRINUSE, "Address already in use")

    with bind_shared_address("127.0.0.1", 0) as shared:
        port = shared.getsockname()[1]
        monkeypatch.setattr(event_loop.socket, "socket", Refused)

        async def start() -> None:
            await asyncio.get_running_loop().create_server(Greeter, sock=shared)

        loop = event_loop.new_event_loop()
        try:
            with pytest.raises(SystemExit) as stopped, caplog.at_level(logging.ERROR, "authserver.http"):
                loop.run_until_complete(start())
        finally:
            loop.close()
    assert stopped.value.code == 3
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in caplog.text


def test_ipv6_addresses_bind_and_read_in_brackets() -> None:
    with bind_shared_address("::1", 0) as shared:
        assert shared.family == socket.AF_INET6
        assert bound_address(shared) == f"[::1]:{shared.getsockname()[1]}"
        own = own_listening_socket(shared)
        assert own is not None
        with own:
            own.listen(8)
            with socket.create_connection(("::1", shared.getsockname()[1]), timeout=5):
                assert accept_all(own) == 1


def test_two_servers_starting_at_once_cannot_both_claim_the_port() -> None:
    """Both can pass the plain bind before either binds with SO_REUSEPORT; the claim is atomic."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with claim_address("127.0.0.1", port):
        with pytest.raises(OSError) as second:
            claim_address("127.0.0.1", port).close()
        assert second.value.errno == errno.EADDRINUSE
        claim_address("::1", port).close()  # another family: another address
    claim_address("127.0.0.1", port).close()  # released with the first


def test_a_restart_binds_again_while_the_last_runs_connections_are_in_time_wait() -> None:
    """The server closing first leaves its side of a connection in TIME_WAIT for a minute; a
    restart must not be refused for it."""
    with bind_shared_address("127.0.0.1", 0) as shared:
        port = shared.getsockname()[1]
        own = own_listening_socket(shared)
        assert own is not None
        with own:
            own.listen(8)
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                    served, _ = own.accept()
                    served.close()  # the server closes first: its side goes to TIME_WAIT
                    assert client.recv(1) == b""
    with bind_shared_address("127.0.0.1", port) as again:
        own = own_listening_socket(again)
        assert own is not None
        own.close()
