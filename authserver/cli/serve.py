"""`authserver serve`: run the HTTP server."""

from __future__ import annotations

import os

import click
import uvicorn

from authserver.cli.common import run
from authserver.context import AppContext
from authserver.log import logging_config
from authserver.settings import CONFIG_ENV


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def serve(click_ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve HTTP. SQLite is migrated on start; PostgreSQL must be current already."""

    async def prepare(ctx: AppContext) -> str:
        await ctx.ensure_keys()  # first run: a current and a next signing key
        return ctx.settings.log_level

    # run() prepares the database (upgrade SQLite / check PostgreSQL) before any worker starts.
    level = run(click_ctx, prepare)
    config = (click_ctx.find_root().obj or {}).get("config")
    if config:
        # Workers build their own settings from the environment: hand them the same file.
        os.environ[CONFIG_ENV] = os.path.abspath(config)
    uvicorn.run(
        "authserver.http.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(level),
        proxy_headers=False,
        server_header=False,
    )
