"""ID tokens (OIDC Core §2, §3.1.3.6): signing, and reading one back as an `id_token_hint`.

Signed RS256 with the key ring's current key, like access tokens, but with header `typ: JWT` and
without `jti`/`scope`, so neither kind of token can pass for the other (checklist J7).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from authserver.db.models import User
from authserver.domain.keys import ALG, KeyRing
from authserver.oauth import claims as standard_claims
from authserver.oauth import jws_rs256

ID_TOKEN_TYP = "JWT"  # noqa: S105 (a JOSE header value, not a password)


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token's ASCII."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def sign_id_token(
    keyring: KeyRing,
    *,
    issuer: str,
    user: User,
    client_id: str,
    ttl: int,
    auth_time: int | None,
    nonce: str | None,
    access_token: str,
    scopes: Iterable[str],
    sid: str | None = None,
) -> str:
    """`nonce` only when the authorization request had one (O3); `sid` names the browser session
    that signed the user in, so a later logout can say which one ended."""
    kid, key = keyring.signer()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.id,
        "aud": client_id,
        "exp": now + ttl,
        "iat": now,
        "at_hash": at_hash(access_token),
    }
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if nonce:
        claims["nonce"] = nonce
    if sid:
        claims["sid"] = sid
    claims |= standard_claims.for_scopes(user, scopes)
    return jws_rs256.sign(claims, kid=kid, typ=ID_TOKEN_TYP, key=key)


def read_id_token_hint(keyring: KeyRing, value: object, *, issuer: str) -> dict[str, Any] | None:
    """Claims of an ID token we issued, or None (O6, J7).

    Expiry is not checked: OIDC Core §3.1.2.1 and RP-Initiated Logout §2 let an RP send back an
    expired ID token as a hint. Everything else is: our signature by `kid` (never keys from the
    header), RS256 only, header `typ: JWT` (an access token, `at+jwt`, is refused), our `iss`,
    and `sub` and `aud` present.
    """
    if not isinstance(value, str) or value.count(".") != 2 or len(value) > 8192 or not value.isascii():
        return None
    try:
        header = jws.extract_compact(value.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        return None
    if (
        header.get("alg") != ALG
        or header.get("typ") != ID_TOKEN_TYP
        or not isinstance(header.get("kid"), str)
    ):
        return None
    key = keyring.verifier(header["kid"])
    if key is None:
        return None
    try:
        found = dict(jwt.decode(value, key, algorithms=[ALG]).claims)
    except (JoseError, ValueError):
        return None
    audience = found.get("aud")
    if found.get("iss") != issuer or not isinstance(found.get("sub"), str):
        return None
    if not (isinstance(audience, str) or (isinstance(audience, list) and audience)):
        return None
    return found


def audiences(hint: dict[str, Any]) -> list[str]:
    audience = hint.get("aud")
    return [audience] if isinstance(audience, str) else [a for a in audience or [] if isinstance(a, str)]
