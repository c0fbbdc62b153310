"""The Starlette application: routes, error handlers, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from authserver.context import AppContext
from authserver.domain.errors import DomainError
from authserver.http import discovery, health, introspection, jwks, revocation, signup, token
from authserver.http.cors import CorsMiddleware
from authserver.http.errors import (
    ApiError,
    handle_api_error,
    handle_domain_error,
    handle_http_error,
    handle_unexpected,
)
from authserver.http.security_headers import SecurityHeadersMiddleware
from authserver.log import configure_logging
from authserver.settings import load_settings


def create_app(ctx: AppContext, *, owns_context: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_context:
                await ctx.aclose()

    app = Starlette(
        routes=[
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
        ],
        middleware=[
            Middleware(CorsMiddleware, origins=ctx.settings.cors_origins),
            Middleware(SecurityHeadersMiddleware, https=ctx.settings.issuer_is_https),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            DomainError: handle_domain_error,
            HTTPException: handle_http_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory for `authserver serve`: each worker reads the same settings itself."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(AppContext.create(settings), owns_context=True)
