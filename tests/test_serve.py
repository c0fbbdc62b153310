"""`authserver serve`: a fresh SQLite install comes up ready; a PostgreSQL behind is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests import backends
from tests.servers import running_server


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
