"""Shared CLI plumbing: build the context, prepare the database, run a coroutine, print results."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError

from authserver.context import AppContext
from authserver.db import migrations
from authserver.db.faults import unavailability
from authserver.domain.errors import DomainError
from authserver.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


class CliError(click.ClickException):
    """One line on stderr (`Error: ...`) and exit 1; click prints it, no traceback."""

    exit_code = 1


class SettingsProblem(CliError):
    """A bad setting is a usage error: exit 2, like a bad option."""

    exit_code = 2


def settings_from(click_ctx: click.Context) -> Settings:
    root = click_ctx.find_root()
    config = (root.obj or {}).get("config")
    try:
        return load_settings(config)
    except SettingsError as exc:
        raise SettingsProblem(str(exc)) from None


async def prepare_database(ctx: AppContext) -> None:
    """SQLite (embedded default) is upgraded in place; a shared PostgreSQL must be upgraded by
    an operator, so we refuse to run against one that is behind."""
    if ctx.settings.is_sqlite:
        await migrations.upgrade(ctx.engine)
    elif not await migrations.is_current(ctx.engine):
        raise CliError("the database is behind on migrations; run `authserver db upgrade` first")


def run(
    click_ctx: click.Context,
    work: Callable[[AppContext], Awaitable[T]],
    *,
    prepare: bool = True,
) -> T:
    settings = settings_from(click_ctx)
    logging.basicConfig(level=logging.WARNING)

    async def _main() -> T:
        ctx = AppContext.create(settings)
        try:
            if prepare:
                await prepare_database(ctx)
            return await work(ctx)
        finally:
            await ctx.aclose()

    try:
        return asyncio.run(_main())
    except DomainError as exc:
        raise CliError(exc.message) from None
    except (OperationalError, ProgrammingError, DBAPIError, OSError, TimeoutError, SQLAlchemyError) as exc:
        # Never print the URL: it may hold a password.
        kind = unavailability(exc)
        if kind is not None:
            raise CliError(
                f"cannot reach the database ({kind}: {type(exc).__name__}); check AUTHSERVER_DATABASE_URL "
                "and that the database is up"
            ) from None
        raise CliError(
            f"database error ({type(exc).__name__}); check AUTHSERVER_DATABASE_URL and that migrations ran"
        ) from None


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text(data))
