"""Real `authserver serve` processes for tests where workers and processes matter."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import CliRunner

from authserver.cli import cli
from tests import backends


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    database_url: str, workdir: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = workdir / f"server-{port}.log"
    full_env = (
        {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
        | {
            "AUTHSERVER_DATABASE_URL": database_url,
            "AUTHSERVER_ISSUER": base,
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
        }
        | (env or {})
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "authserver", "serve", "--port", str(port), "--workers", str(workers)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def pg_with_client(
    tmp_path: Path, *client_args: str
) -> Iterator[tuple[str, dict[str, str | None], tuple[str, str]]]:
    """A fresh PostgreSQL schema, migrated by the CLI, with one client registered by the CLI."""
    name, url = backends.create_pg_schema()
    try:
        env: dict[str, str | None] = {
            "AUTHSERVER_DATABASE_URL": url,
            "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
            "AUTHSERVER_CONFIG": None,
        }
        runner = CliRunner()
        assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
        created = runner.invoke(cli, ["clients", "create", "--name", "app", *client_args, "--json"], env=env)
        assert created.exit_code == 0, created.output
        app = json.loads(created.stdout)
        yield url, env, (app["client_id"], app["client_secret"])
    finally:
        backends.drop_pg_schema(name)
