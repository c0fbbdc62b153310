"""JWT access tokens (RFC 9068) and ID tokens, signed with the current key of the key ring."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from authserver.domain.keys import ALG, KeyRing

AT_JWT = "at+jwt"
FAMILY_CLAIM = "fam"


@dataclass(frozen=True)
class SignedToken:
    value: str
    jti: str
    issued_at: int
    expires_at: int


def sign_access_token(
    keyring: KeyRing,
    *,
    issuer: str,
    subject: str,
    audience: str,
    client_id: str,
    scope: str,
    ttl: int,
    auth_time: int | None = None,
    family_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> SignedToken:
    """RFC 9068 §2: header typ at+jwt; iss, sub, aud, exp, iat, jti, client_id, scope.

    A token from a user grant also names its family (`fam`, an opaque id): revoking the family
    reaches the token without any record having been written when it was issued.
    """
    kid, key = keyring.signer()
    now = int(time.time())
    jti = secrets.token_urlsafe(18)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + ttl,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": client_id,
        "scope": scope,
    }
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if family_id is not None:
        claims[FAMILY_CLAIM] = family_id
    if extra:
        claims |= extra
    header = {"alg": ALG, "typ": AT_JWT, "kid": kid}
    return SignedToken(jwt.encode(header, claims, key, algorithms=[ALG]), jti, now, now + ttl)


def sign_id_token(
    keyring: KeyRing,
    *,
    issuer: str,
    subject: str,
    client_id: str,
    ttl: int,
    auth_time: int | None,
    nonce: str | None,
    access_token: str,
) -> str:
    """OIDC Core §2 and §3.1.3.6 (at_hash: left half of SHA-256 of the access token)."""
    kid, key = keyring.signer()
    now = int(time.time())
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "exp": now + ttl,
        "iat": now,
        "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii"),
    }
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode({"alg": ALG, "typ": "JWT", "kid": kid}, claims, key, algorithms=[ALG])


def verify_access_token(keyring: KeyRing, value: str, *, issuer: str) -> dict[str, Any] | None:
    """Claims of a valid access token from this issuer, else None (no reason: RFC 7662 §2.2).

    Only RS256 is accepted, the key comes only from our key ring by `kid` (header `jwk`, `jku`,
    `x5u`, `x5c` are ignored, RFC 8725), and `typ` must be at+jwt so an ID token is refused (J7).
    """
    if value.count(".") != 2 or len(value) > 8192:
        return None
    try:
        header = jws.extract_compact(value.encode("ascii")).headers()  # unverified: picks the key
    except (JoseError, ValueError, UnicodeError):
        return None
    if header.get("alg") != ALG or header.get("typ") != AT_JWT or not isinstance(header.get("kid"), str):
        return None
    key = keyring.verifier(header["kid"])
    if key is None:
        return None
    try:
        token = jwt.decode(value, key, algorithms=[ALG])
        claims = dict(token.claims)
    except (JoseError, ValueError):
        return None
    now = int(time.time())
    if claims.get("iss") != issuer or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return None
    if isinstance(claims.get("nbf"), int) and claims["nbf"] > now + 60:
        return None
    if not isinstance(claims.get("jti"), str):
        return None
    return claims
