"""`authserver serve`: a fresh SQLite install comes up ready; a PostgreSQL behind is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import backends
from tests.servers import free_port, running_server


def test_serve_on_fresh_sqlite_is_healthy_and_ready(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    with running_server(url, tmp_path, workers=2) as base:
        assert httpx.get(base + "/healthz").status_code == 200
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 200, ready.text
    assert (tmp_path / "fresh.db").exists()


def test_serve_refuses_postgres_behind_on_migrations(tmp_path: Path) -> None:
    name, url = backends.create_pg_schema()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
        result = subprocess.run(
            [sys.executable, "-m", "authserver", "serve", "--port", "1"],
            env=env | {"AUTHSERVER_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "Error: the database is behind on migrations; run `authserver db upgrade` first"
        ]
    finally:
        backends.drop_pg_schema(name)


@pytest.mark.parametrize("workers", [1, 2])
def test_F3_sigterm_lets_requests_in_flight_finish(tmp_path: Path, workers: int) -> None:
    """SIGTERM to `serve` while signups (argon2: slow on purpose) are in flight: each one gets its
    whole answer, and the server exits 0 (with one worker too: uvicorn raises the signal again
    after its shutdown) leaving no listening socket and no metrics directory behind."""
    import asyncio
    import signal
    import time

    from tests.servers import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")} | {
        "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'drain.db'}",
        "AUTHSERVER_ISSUER": base,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    (tmp_path / "tmp").mkdir()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "authserver", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.2)

        async def signups() -> list[int]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                body = {"password": "correct horse battery staple"}
                sent = [
                    asyncio.create_task(
                        http.post(
                            "/signup", json=body | {"email": f"d{n}@example.com", "username": f"drain{n}"}
                        )
                    )
                    for n in range(12)
                ]
                await asyncio.sleep(0.3)  # all sent and being worked on (argon2 queues them)
                proc.send_signal(signal.SIGTERM)
                return [r.status_code for r in await asyncio.gather(*sent)]

        statuses = asyncio.run(signups())
        assert statuses == [201] * 12, statuses
        assert proc.wait(timeout=60) == 0
        assert listening_sockets_on(port) == 0
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def listening_sockets_on(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (/proc/net/tcp: state 0A is LISTEN)."""
    wanted = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == wanted and row.split()[3] == "0A")


def test_serve_gives_each_worker_its_own_socket_and_refuses_a_second_server_on_the_port(
    tmp_path: Path,
) -> None:
    """Each worker drains a socket of its own (authserver/http/event_loop.py); SO_REUSEPORT must
    not let a second `serve` on the same port quietly take half of the first one's connections."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'first.db'}"
    with running_server(url, tmp_path, workers=2) as base:
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while listening_sockets_on(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the second worker may still be starting
        assert listening_sockets_on(port) == 2
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
        second = subprocess.run(
            [sys.executable, "-m", "authserver", "serve", "--port", str(port)],
            env=env
            | {
                "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'second.db'}",
                "AUTHSERVER_KEYS_DIR": str(tmp_path / "second-keys"),
            },
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip().splitlines()[-1] == (
            f"Error: cannot listen on 127.0.0.1:{port}: Address already in use (by another authserver serve)"
        )
        assert httpx.get(base + "/healthz").status_code == 200


def test_a_worker_that_fails_to_start_makes_serve_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn's supervisor stops when a worker exits 3 ("failed to start") but returns normally;
    `serve` must not exit 0 then, or `Restart=on-failure` would not see it."""
    from click.testing import CliRunner

    from authserver.cli import cli
    from authserver.cli import serve as serve_module

    class FailedWorker:
        exitcode = 3

    class Supervisor:
        def __init__(self, config: object, sockets: list[object]) -> None:
            self.processes = [FailedWorker()]

        def run(self) -> None:
            pass

    monkeypatch.setattr(serve_module, "Multiprocess", Supervisor)
    # Set here so that serve does not set it in this process for good.
    monkeypatch.setenv(serve_module.metrics.MULTIPROC_ENV, str(tmp_path / "metrics"))
    env = {
        "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_CONFIG": None,
        "TMPDIR": str(tmp_path),
    }
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port()), "--workers", "2"], env=env)
    assert result.exit_code == 3, result.output
