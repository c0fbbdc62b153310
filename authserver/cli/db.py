"""`authserver db ...`: schema migrations."""

from __future__ import annotations

import click

from authserver.cli.common import run
from authserver.context import AppContext
from authserver.db import migrations


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@click.pass_context
def upgrade(click_ctx: click.Context) -> None:
    """Apply every pending migration (safe to run again)."""

    async def work(ctx: AppContext) -> set[str]:
        await migrations.upgrade(ctx.engine)
        return await migrations.current_revisions(ctx.engine)

    revisions = run(click_ctx, work, prepare=False)
    click.echo(f"database at revision {', '.join(sorted(revisions))}")


@db.command()
@click.pass_context
def current(click_ctx: click.Context) -> None:
    """Show the database's revision and whether it is up to date."""

    async def work(ctx: AppContext) -> tuple[set[str], set[str]]:
        return await migrations.current_revisions(ctx.engine), migrations.head_revisions()

    have, want = run(click_ctx, work, prepare=False)
    state = "up to date" if have == want else "behind: run `authserver db upgrade`"
    click.echo(f"{', '.join(sorted(have)) or '(empty)'} ({state})")
