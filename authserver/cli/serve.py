"""`authserver serve`: run the HTTP server."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from authserver import metrics
from authserver.cli.common import CliError, run, settings_from
from authserver.context import AppContext
from authserver.domain import keys as keys_service
from authserver.http import event_loop
from authserver.log import logging_config
from authserver.settings import CONFIG_ENV

WORKER_HEALTHCHECK_SECONDS = 30


async def check_key_secret(ctx: AppContext) -> None:
    """F4: a dev-mode secret file that went missing must not be replaced by a new one while the
    database holds keys encrypted under the old one (nothing could be decrypted)."""
    settings = ctx.settings
    secret_file = settings.keys_dir / keys_service.KEK_FILE
    if settings.key_encryption_secret is not None or secret_file.exists():
        return
    async with ctx.transaction() as session:
        if await keys_service.count_keys(session):
            raise CliError(
                f"{secret_file} is missing, but the database holds signing keys encrypted with it: "
                "restore the file or set AUTHSERVER_KEY_ENCRYPTION_SECRET"
            )


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
        await check_key_secret(ctx)
        await ctx.ensure_keys()  # first run: a current and a next signing key
        await ctx.maintain_keys_once()  # decrypts the current key: a wrong secret stops us here
        return ctx.settings.log_level

    # run() prepares the database (upgrade SQLite / check PostgreSQL) before any worker starts.
    level = run(click_ctx, prepare)
    config = (click_ctx.find_root().obj or {}).get("config")
    if config:
        # Workers build their own settings from the environment: hand them the same file.
        os.environ[CONFIG_ENV] = os.path.abspath(config)
    # Bound before anything else starts, for one worker as for many: each worker binds its own
    # socket beside this one (authserver/http/event_loop.py).
    where = event_loop.display_address(host, port)
    try:
        claim = event_loop.claim_address(host, port)
    except OSError as error:
        raise CliError(f"cannot listen on {where}: {error.strerror or error}") from None
    try:
        sock = event_loop.bind_shared_address(host, port)
    except OSError as error:
        claim.close()
        raise CliError(f"cannot listen on {where}: {error.strerror or error}") from None
    metrics_dir = None
    if workers > 1 and not os.environ.get(metrics.MULTIPROC_ENV):
        # Workers are new interpreters: they import prometheus-client in multiprocess mode and
        # write their samples here, so one scrape reports all of them.
        metrics_dir = tempfile.mkdtemp(prefix="authserver-metrics-")
        os.environ[metrics.MULTIPROC_ENV] = metrics_dir
    try:
        _serve(click_ctx, sock, host, port, workers, level)
    finally:
        sock.close()
        claim.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(
    click_ctx: click.Context, sock: socket.socket, host: str, port: int, workers: int, level: str
) -> None:
    settings = settings_from(click_ctx)
    if settings.metrics_port:
        start_metrics_server(settings.metrics_port, host)
    server_config = uvicorn.Config(
        "authserver.http.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvloop, each worker on a listening socket of its own that it drains in batches
        # (authserver/http/event_loop.py).
        loop="authserver.http.event_loop:new_event_loop",
        log_config=logging_config(level),
        proxy_headers=False,
        access_log=False,  # ours (http/access_log.py) leaves the query string out
        server_header=False,
        # SIGTERM (F3): stop accepting, let requests in flight finish for up to this long, run the
        # lifespan shutdown (which closes the pool), exit 0.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        # uvicorn kills a worker that does not answer its supervisor's ping within this long, also
        # while it is still starting; its default of 5 s killed workers importing on a busy host.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    logging.getLogger("authserver").info(
        "serving http://%s with %d worker(s)", event_loop.bound_address(sock), workers
    )
    try:
        if workers > 1:
            supervisor = Multiprocess(server_config, sockets=[sock])
            supervisor.run()  # returns on SIGTERM and SIGINT, and when a worker failed to start
            if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
                raise SystemExit(STARTUP_FAILURE)  # uvicorn has logged why
            return
        server = uvicorn.Server(server_config)
        # Once shut down, uvicorn raises the signal it stopped on again, with the handler that was
        # there before it: this one, so SIGTERM ends in exit 0 as with several workers (F3).
        signal.signal(signal.SIGTERM, _exit_cleanly)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        return  # SIGINT (Ctrl-C), raised again by uvicorn after its shutdown
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)  # the lifespan failed; uvicorn has logged why


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)
