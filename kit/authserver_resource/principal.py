"""The verified caller a protected handler receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Source = Literal["jwt", "better_auth_session"]


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by a verified token or session.

    `subject` is the token's `sub` (a user, or the client itself for client_credentials, RFC 9068
    §2.2); with `issuer` it is the stable identity (identity is the pair `iss`, `sub`, never an
    email). `claims` holds everything the issuer asserted, read-only.
    """

    subject: str
    issuer: str
    client_id: str | None
    scopes: frozenset[str]
    roles: frozenset[str]
    claims: Mapping[str, Any] = field(repr=False)
    source: Source = "jwt"
    expires_at: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.claims, MappingProxyType):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))

    def has_scopes(self, *required: str) -> bool:
        """True when every required scope was granted (RFC 6749 §3.3 scopes are exact strings)."""
        return all(scope in self.scopes for scope in required)

    def missing_scopes(self, *required: str) -> tuple[str, ...]:
        """The required scopes this principal lacks, in the order asked."""
        return tuple(scope for scope in required if scope not in self.scopes)


def lookup(claims: Mapping[str, Any], path: str | None) -> Any:
    """The value at a dotted claim path (`realm_access.roles`), or None."""
    if path is None:
        return None
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def string_set(value: Any) -> frozenset[str]:
    """Scopes or roles from a space-separated string (RFC 6749 §3.3) or a list of strings. Anything
    else counts as none: a malformed claim can only take permissions away, never add them."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()
