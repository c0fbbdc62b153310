"""`authserver tokens ...`: housekeeping of issued tokens."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

import click

from authserver.cli.common import emit, run
from authserver.context import AppContext
from authserver.domain import account_tokens, rate_limits, token_families


@click.group()
def tokens() -> None:
    """Issued tokens."""


@tokens.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def prune(click_ctx: click.Context, as_json: bool) -> None:
    """Delete expired token records (run it from cron, e.g. hourly; safe on a live server)."""

    async def work(ctx: AppContext) -> dict[str, Any]:
        settings = ctx.settings
        async with ctx.transaction() as session:
            pruned = await token_families.prune_expired(
                session,
                access_ttl=timedelta(seconds=settings.access_token_ttl),
                idle=timedelta(seconds=settings.refresh_idle_ttl),
                skew=timedelta(seconds=settings.clock_skew),
            )
            windows = await rate_limits.prune_expired(session)
            links = await account_tokens.prune_expired(session)
        return asdict(pruned) | {"rate_limit_windows": windows, "account_tokens": links}

    emit(
        run(click_ctx, work),
        as_json,
        lambda d: (
            f"pruned {d['access_tokens']} access-token record(s), {d['codes']} code(s), "
            f"{d['families']} famil{'y' if d['families'] == 1 else 'ies'}, "
            f"{d['rate_limit_windows']} rate-limit window(s), {d['account_tokens']} mailed link(s)"
        ),
    )
