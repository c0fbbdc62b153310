"""Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0).

Everything advertised is enforced (D5): S256 only, the grants we register, the auth methods our
client model accepts. `issuer` is the configured issuer, the same string as `iss` in every token (D1).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.http.static_documents import document_response, encode
from authserver.oauth import client_auth
from authserver.oauth.authorize import PROMPTS
from authserver.oauth.claims import CLAIMS_SUPPORTED
from authserver.oauth.client_assertion import ALGORITHMS as ASSERTION_ALGORITHMS

JWKS_PATH = "/.well-known/jwks.json"
CACHE = "public, max-age=3600"


GRANT_TYPES = ["authorization_code", "client_credentials", "password", "refresh_token"]
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (RFC 8693 grant type)


def oauth_metadata(issuer: str, token_exchange: bool = False) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "jwks_uri": issuer + JWKS_PATH,
        "introspection_endpoint": issuer + "/introspect",
        "revocation_endpoint": issuer + "/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        # D5: token exchange only when a Better Auth app is configured (else unsupported_grant_type).
        "grant_types_supported": [*GRANT_TYPES, TOKEN_EXCHANGE] if token_exchange else GRANT_TYPES,
        # D5: the same constants `oauth/client_auth.py` enforces.
        "token_endpoint_auth_methods_supported": list(client_auth.TOKEN_ENDPOINT_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": list(client_auth.INTROSPECTION_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": list(client_auth.REVOCATION_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        # RFC 9207 §3: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": True,
        # Request objects are refused (request_not_supported, request_uri_not_supported); OIDC
        # Discovery defaults request_uri_parameter_supported to true, so say so explicitly.
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def openid_metadata(
    issuer: str, token_exchange: bool = False, *, signup_enabled: bool = True
) -> dict[str, Any]:
    # prompt=create starts on the signup page: advertised only when there is one.
    prompts = [p for p in PROMPTS if signup_enabled or p != "create"]
    return oauth_metadata(issuer, token_exchange) | {
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access", "roles"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": False,
        "userinfo_endpoint": issuer + "/userinfo",
        "end_session_endpoint": issuer + "/logout",
        "prompt_values_supported": prompts,
    }


@cache
def _documents(issuer: str, token_exchange: bool, signup_enabled: bool) -> dict[str, tuple[bytes, str]]:
    """Both documents as bytes, built once per process: they change only with the settings."""
    return {
        "oauth": encode(oauth_metadata(issuer, token_exchange)),
        "openid": encode(openid_metadata(issuer, token_exchange, signup_enabled=signup_enabled)),
    }


async def authorization_server_metadata(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    body, etag = _documents(
        ctx.settings.issuer, ctx.settings.better_auth_url is not None, ctx.settings.signup_enabled
    )["oauth"]
    return document_response(request, body, etag, CACHE)


async def openid_configuration(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    body, etag = _documents(
        ctx.settings.issuer, ctx.settings.better_auth_url is not None, ctx.settings.signup_enabled
    )["openid"]
    return document_response(request, body, etag, CACHE)
