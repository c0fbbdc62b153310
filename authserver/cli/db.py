"""`authserver db ...`: schema migrations, backup and restore."""

from __future__ import annotations

from pathlib import Path

import click

from authserver.cli.common import CliError, run, settings_from
from authserver.context import AppContext
from authserver.db import backup as backups
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


_KEYS_NOTE = (
    "the signing keys in it are encrypted: keep the key-encryption secret "
    "(AUTHSERVER_KEY_ENCRYPTION_SECRET, or keys/key-encryption-secret) safe, apart from the backups"
)


@db.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.pass_context
def backup(click_ctx: click.Context, path: Path, force: bool) -> None:
    """Back the database up to PATH; safe while servers run (SQLite online backup, pg_dump)."""
    try:
        backups.backup(settings_from(click_ctx).database_url, path, force=force)
    except backups.BackupError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"backed up to {path}; {_KEYS_NOTE}")


@db.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing database (stop every server first).")
@click.pass_context
def restore(click_ctx: click.Context, path: Path, force: bool) -> None:
    """Restore a backup from PATH into the configured database (no server may be running on it)."""
    try:
        backups.restore(settings_from(click_ctx).database_url, path, force=force)
    except backups.BackupError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"restored from {path}; servers need the same key-encryption secret as when it was taken")
