"""The Starlette application: routes, error handlers, lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from authserver import metrics
from authserver.context import AppContext, NoSigningKey
from authserver.domain.errors import DomainError
from authserver.http import discovery, health, introspection, jwks, revocation, signup, token
from authserver.http.access_log import AccessLogMiddleware
from authserver.http.cors import CorsMiddleware
from authserver.http.errors import (
    ApiError,
    handle_api_error,
    handle_domain_error,
    handle_http_error,
    handle_no_signing_key,
    handle_unexpected,
)
from authserver.http.metrics import MetricsMiddleware, metrics_endpoint
from authserver.http.security_headers import SecurityHeadersMiddleware
from authserver.log import configure_logging
from authserver.settings import load_settings


def create_app(ctx: AppContext, *, owns_context: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Key generation and automatic rotation run here, in the background, never in a request.
        await ctx.start_maintenance()
        try:
            yield
        finally:
            await ctx.stop_maintenance()
            metrics.forget_process(os.getpid())
            if owns_context:
                await ctx.aclose()

    routes = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/signup", signup.signup, methods=["POST"]),
        Route("/token", token.token, methods=["POST"]),
        Route("/introspect", introspection.introspect, methods=["POST"]),
        Route("/revoke", revocation.revoke, methods=["POST"]),
        Route(discovery.JWKS_PATH, jwks.jwks, methods=["GET"]),
        Route(
            "/.well-known/oauth-authorization-server",
            discovery.authorization_server_metadata,
            methods=["GET"],
        ),
        Route("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
    ]
    if ctx.settings.metrics_port == 0:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLogMiddleware),
            Middleware(MetricsMiddleware, paths=frozenset(r.path for r in routes)),
            Middleware(CorsMiddleware, origins=ctx.settings.cors_origins),
            Middleware(SecurityHeadersMiddleware, https=ctx.settings.issuer_is_https),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            DomainError: handle_domain_error,
            HTTPException: handle_http_error,
            NoSigningKey: handle_no_signing_key,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    # A trailing slash is a 404, never a redirect: Starlette would build the redirect from the
    # Host header (spoofable) and over http, and a client would re-POST its secret to it.
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory for `authserver serve`: each worker reads the same settings itself."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(AppContext.create(settings), owns_context=True)
