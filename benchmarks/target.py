"""What the harness needs from a server under test, whichever it is (authserver or the peer)."""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx


@dataclass(frozen=True)
class Call:
    """One HTTP request that a workload repeats: checked once with httpx, then sent by wrk."""

    method: str  # GET or POST
    url: str
    form: dict[str, str] | None = None
    basic: tuple[str, str] | None = None  # client_secret_basic credentials

    @property
    def body(self) -> str:
        return urlencode(self.form or {})

    @property
    def authorization(self) -> str:
        return basic_header(*self.basic) if self.basic else ""

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.url, data=self.form, auth=self.basic)


class Target(ABC):
    """A running server: its label in the table, its root process, and the call for each workload."""

    label: str
    base: str
    pid: int

    @abstractmethod
    def call(self, workload: str) -> Call | None:
        """The request for `workload`, or None where this server does not support it (n/a)."""

    @abstractmethod
    def refresh_chains(self, count: int) -> list[str]:
        """`count` live refresh tokens of `refresh_client`, each the head of its own chain."""

    @property
    @abstractmethod
    def refresh_client(self) -> tuple[str, str]:
        """(client_id, secret) that the refresh tokens were issued to."""

    def note(self, workload: str) -> str | None:
        """A caveat shown under the table for this server and workload."""
        return None


def basic_header(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1 Basic credentials (ids and secrets here are URL-safe, so no form-encoding)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], timeout_s: float = 90, hits: int = 10
) -> None:
    """Until `url` answers 200 `hits` times in a row (so every worker has started), or fail."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode} while starting")
        try:
            streak = streak + 1 if httpx.get(url, timeout=5).status_code == 200 else 0
        except httpx.HTTPError:
            streak = 0
        if streak >= hits:
            return
        time.sleep(0.1 if streak else 0.3)
    raise RuntimeError(f"{url} did not become ready within {timeout_s:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn and Node shut down cleanly), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
