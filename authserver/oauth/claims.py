"""Standard claims by scope (OIDC Core §5.4), for the ID token and the userinfo response.

Only claims we hold true values for are released: `profile` gives `preferred_username` and
`updated_at` (we keep no real name, picture or locale), `email` gives `email` and
`email_verified` (false until the address is verified: checklist E6, O8).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from authserver.db.models import User

SCOPE_CLAIMS = {
    "profile": ("preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
}
# Every claim the ID token or userinfo can carry: discovery's `claims_supported` (D5).
CLAIMS_SUPPORTED = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    *(claim for claims in SCOPE_CLAIMS.values() for claim in claims),
]


def for_scopes(user: User, scopes: Iterable[str]) -> dict[str, Any]:
    granted = set(scopes)
    claims: dict[str, Any] = {}
    if "profile" in granted:
        claims["preferred_username"] = user.username
        claims["updated_at"] = int(user.updated_at.timestamp())
    if "email" in granted:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    return claims
