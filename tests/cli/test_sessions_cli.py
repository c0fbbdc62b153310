"""`authserver sessions prune` and `clients create --post-logout-redirect-uri`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from authserver.db.models import BrowserSession
from authserver.db.types import utcnow
from authserver.domain import browser_sessions
from authserver.pages.browser import lifetimes
from tests.cli.test_cli import invoke, run_db  # noqa: F401 (the fixture)


def test_sessions_prune_deletes_only_dead_sessions(invoke: Any, database_url: str) -> None:  # noqa: F811
    assert invoke("sessions", "prune", "--json").exit_code == 0

    async def make(ctx: Any, session: Any) -> str:
        live = await browser_sessions.start(session, lifetimes(ctx.settings))
        dead = await browser_sessions.start(session, lifetimes(ctx.settings))
        await session.execute(
            update(BrowserSession)
            .where(BrowserSession.id == dead.row.id)
            .values(expires_at=utcnow() - timedelta(1))
        )
        return live.secret

    secret = run_db(database_url, make)
    result = invoke("sessions", "prune", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"browser_sessions": 1}

    async def check(ctx: Any, session: Any) -> None:
        assert await session.scalar(select(func.count()).select_from(BrowserSession)) == 1
        assert await browser_sessions.load(session, secret, lifetimes(ctx.settings)) is not None

    run_db(database_url, check)


def test_clients_create_with_post_logout_redirect_uri(invoke: Any) -> None:  # noqa: F811
    args = ["clients", "create", "--name", "rp", "--grant-type", "authorization_code", "--json"]
    args += [
        "--redirect-uri",
        "https://rp.example.com/cb",
        "--post-logout-redirect-uri",
        "https://rp.example.com/bye",
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["post_logout_redirect_uris"] == ["https://rp.example.com/bye"]
    bad = invoke(*args, "--post-logout-redirect-uri", "javascript:alert(1)")
    assert bad.exit_code == 1 and "Redirect URI" in bad.output
