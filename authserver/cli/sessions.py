"""`authserver sessions ...`: browser sessions of the sign-in pages."""

from __future__ import annotations

from typing import Any

import click

from authserver.cli.common import emit, run
from authserver.context import AppContext
from authserver.domain import browser_sessions
from authserver.pages.browser import lifetimes


@click.group()
def sessions() -> None:
    """Browser sessions (the login pages)."""


@sessions.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def prune(click_ctx: click.Context, as_json: bool) -> None:
    """Delete expired or idle sessions and stale pending sign-in requests (cron, e.g. hourly)."""

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            count = await browser_sessions.prune_expired(session, lifetimes(ctx.settings))
        return {"browser_sessions": count}

    emit(run(click_ctx, work), as_json, lambda d: f"pruned {d['browser_sessions']} browser session(s)")
