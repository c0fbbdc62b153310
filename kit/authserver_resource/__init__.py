"""authserver-resource: verify authserver (and Better Auth) credentials in a resource server.

Framework glue lives in `authserver_resource.starlette` and `authserver_resource.fastapi`, imported
only when used, so the core needs neither framework (and never the authorization server itself).
"""

from authserver_resource.authenticator import Authenticator
from authserver_resource.better_auth import BetterAuth
from authserver_resource.credentials import Credential
from authserver_resource.errors import (
    BearerError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    IssuerUnavailable,
    TokenMissing,
)
from authserver_resource.issuers import ClaimMapping, Introspection, Issuer, JwksPolicy
from authserver_resource.principal import Principal

__all__ = [
    "Authenticator",
    "BearerError",
    "BetterAuth",
    "ClaimMapping",
    "Credential",
    "InsufficientScope",
    "Introspection",
    "InvalidRequest",
    "InvalidToken",
    "Issuer",
    "IssuerUnavailable",
    "JwksPolicy",
    "Principal",
    "TokenMissing",
]
