"""`authserver serve`: run the HTTP server."""

from __future__ import annotations

import os
import tempfile

import click
import uvicorn

from authserver import metrics
from authserver.cli.common import run, settings_from
from authserver.context import AppContext
from authserver.log import logging_config
from authserver.settings import CONFIG_ENV


def start_metrics_server(port: int, host: str) -> None:
    """/metrics on its own port, served by this (supervising) process from every worker's files."""
    from prometheus_client import start_http_server
    from prometheus_client.core import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = None
    if os.environ.get(metrics.MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if registry is not None:
        start_http_server(port, addr=host, registry=registry)
    else:
        start_http_server(port, addr=host)


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
    if workers > 1 and not os.environ.get(metrics.MULTIPROC_ENV):
        # Workers are new interpreters: they import prometheus-client in multiprocess mode and
        # write their samples here, so one scrape reports all of them.
        os.environ[metrics.MULTIPROC_ENV] = tempfile.mkdtemp(prefix="authserver-metrics-")
    metrics_port = settings_from(click_ctx).metrics_port
    if metrics_port:
        start_metrics_server(metrics_port, host)
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
