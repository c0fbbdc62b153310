"""The Starlette application: routes, error handlers, lifespan."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authserver import metrics
from authserver.context import AppContext, NoSigningKey
from authserver.domain.errors import DomainError
from authserver.http import discovery, health, introspection, jwks, revocation, signup, token, userinfo
from authserver.http.access_log import AccessLogMiddleware
from authserver.http.cors import CorsMiddleware
from authserver.http.database_faults import DatabaseFaultsMiddleware
from authserver.http.errors import (
    ApiError,
    handle_api_error,
    handle_domain_error,
    handle_http_error,
    handle_no_signing_key,
    handle_unexpected,
    rate_limited_response,
)
from authserver.http.metrics import MetricsMiddleware, metrics_endpoint
from authserver.http.security_headers import SecurityHeadersMiddleware
from authserver.limiter import RateLimited
from authserver.log import configure_logging
from authserver.pages import (
    account,
    authorize,
    consent,
    email_verification,
    login,
    logout,
    password_change,
    password_forgot,
    password_reset,
)
from authserver.pages import signup as signup_page
from authserver.pages.browser import PageError
from authserver.pages.rendering import error_page, static_file
from authserver.settings import load_settings

# The browser half (authserver/pages/): HTML, a CSRF token in every form, no CORS (C1).
PAGE_ROUTES = [
    Route("/authorize", authorize.authorization_endpoint, methods=["GET", "POST"]),
    Route("/login", login.login_page, methods=["GET"]),
    Route("/login", login.login_submit, methods=["POST"]),
    Route("/register", signup_page.signup_page, methods=["GET"]),
    Route("/register", signup_page.signup_submit, methods=["POST"]),
    Route("/consent", consent.consent_page, methods=["GET"]),
    Route("/consent", consent.consent_submit, methods=["POST"]),
    Route("/account", account.account_page, methods=["GET"]),
    Route("/account/consents/withdraw", account.withdraw_consent, methods=["POST"]),
    Route("/account/sessions/end-others", account.end_other_sessions, methods=["POST"]),
    Route("/logout", logout.logout, methods=["GET", "POST"]),
    Route("/account/password", password_change.change_page, methods=["GET"]),
    Route("/account/password", password_change.change_submit, methods=["POST"]),
    # Page and JSON API on one path each: a form post carrying the page's CSRF field is the page.
    Route("/password/forgot", password_forgot.forgot_page, methods=["GET"]),
    Route("/password/forgot", password_forgot.forgot_submit, methods=["POST"]),
    Route("/password/reset", password_reset.reset_page, methods=["GET"]),
    Route("/password/reset", password_reset.reset_submit, methods=["POST"]),
    Route("/email/verify", email_verification.verify_page, methods=["GET"]),
    Route("/email/verify", email_verification.verify_submit, methods=["POST"]),
    Route("/email/verify/resend", email_verification.resend_page, methods=["GET"]),
    Route("/email/verify/resend", email_verification.resend_submit, methods=["POST"]),
    Route("/static/{name}", static_file, methods=["GET"]),
]


async def handle_page_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_page(exc.kind, exc.status)


async def handle_rate_limited(request: Request, exc: Exception) -> Response:
    """429 with Retry-After: a page for a page's form post, else a JSON OAuth-style error."""
    assert isinstance(exc, RateLimited)
    metrics.RATE_LIMITED.labels(endpoint=request.url.path).inc()
    if getattr(request.state, "page", False):
        page = error_page("rate_limited", 429, retry_minutes=max(1, -(-exc.retry_after // 60)))
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return rate_limited_response(exc.retry_after)


def freeze_startup_heap() -> None:
    """Take every object alive after start-up out of the garbage collector's full passes.

    A worker holds ~140,000 objects once started (modules, the app, the key ring) that live as
    long as it does, and CPython's full collection walks them all: under load one ran every ~10 s
    per worker and took 60-120 ms, holding up every request in flight on that worker. Frozen,
    the same collections take 1-2 ms (docs/architecture.md, "Serving"). Cycles made later are
    still collected; the start-up objects are exempt, and they never become garbage.
    """
    gc.collect()
    gc.freeze()


def create_app(ctx: AppContext, *, owns_context: bool = False, freeze_heap: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Key generation and automatic rotation run here, in the background, never in a request.
        await ctx.start_maintenance()
        if freeze_heap:
            freeze_startup_heap()
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
        Route("/userinfo", userinfo.userinfo_endpoint, methods=["GET", "POST"]),
        *PAGE_ROUTES,
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
            # Innermost: its 503 still passes through the headers, CORS, metrics and access log.
            Middleware(DatabaseFaultsMiddleware, page_paths=frozenset(r.path for r in PAGE_ROUTES)),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            DomainError: handle_domain_error,
            PageError: handle_page_error,
            RateLimited: handle_rate_limited,
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
    return create_app(AppContext.create(settings), owns_context=True, freeze_heap=True)
