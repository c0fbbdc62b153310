"""Shared fixtures. Every storage test runs on SQLite and PostgreSQL through `backend`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authserver.context import AppContext
from authserver.db import migrations
from authserver.http.app import create_app
from authserver.settings import Settings
from tests import backends

ISSUER = "http://127.0.0.1:8000"
pytest_plugins = ["tests.log_capture"]  # the `server_logging` fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (not yet migrated) on the parametrised backend."""
    if backend == "sqlite":
        yield backends.sqlite_url(tmp_path)
        return
    with backends.pg_database() as url:
        yield url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its `ctx`."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "issuer": ISSUER,
        "keys_dir": tmp_path / "keys",
        "mail_outbox_dir": tmp_path / "outbox",
    }
    return Settings(**(values | settings_overrides))


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    """A migrated database and everything the app holds, disposed after the test."""
    context = AppContext.create(settings)
    await migrations.upgrade(context.engine)
    try:
        yield context
    finally:
        await context.aclose()


@pytest.fixture
async def client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the real app (no network)."""
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    # The app's own lifespan: first-run keys and the key-maintenance task, as `serve` runs them.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=ISSUER) as http,
    ):
        yield http


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many storage tests passed on each backend, so a run shows both really ran."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            params = nodeid.rsplit("[", 1)[-1].rstrip("]").split("-") if "[" in nodeid else []
            for name in ("sqlite", "postgresql"):
                if name in params:
                    counts.setdefault(name, {}).setdefault(outcome, 0)
                    counts[name][outcome] += 1
    if counts:
        terminalreporter.write_sep("-", "storage tests by backend")
        for name in ("sqlite", "postgresql"):
            parts = ", ".join(f"{n} {o}" for o, n in sorted(counts.get(name, {}).items())) or "none ran"
            terminalreporter.write_line(f"{name}: {parts}")
