"""private_key_jwt client authentication (RFC 7523 §2.2, §3; OIDC Core §9; checklist T12).

An assertion is a JWT the client signs with a key whose public half it registered. We accept only
asymmetric algorithms (no HS256 made with a public key), our issuer or token endpoint as `aud`,
`iss == sub == client_id`, an `exp` in the future and at most `MAX_LIFETIME` away (whatever its
numeric type: a float such as 1e20 is capped like an int), and a `jti` never seen before. The
`jti` is recorded in its own committed transaction, so it stays used even when the rest of the
request then fails (a rolled-back `jti` could be replayed).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authserver.domain import identifiers
from authserver.oauth.client_auth import PRIVATE_KEY_JWT, ClientFailed

METHOD = PRIVATE_KEY_JWT
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
MAX_LIFETIME = 3600  # an assertion valid longer than this is refused: it bounds the jti table
LEEWAY = 60
MAX_ASSERTION_BYTES = 8192

RecordJti = Callable[[str, str, datetime], bool]


def _number(value: Any) -> float | None:
    """A finite JSON number (bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _unverified(assertion: str) -> dict[str, Any]:
    """The claims before the signature is checked: only to find whose keys to check it with."""
    if len(assertion) > MAX_ASSERTION_BYTES or not assertion.isascii():
        raise ClientFailed("assertion too long or not ASCII")
    try:
        payload = jws.extract_compact(assertion.encode("ascii")).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, UnicodeError, RecursionError):
        raise ClientFailed("assertion is not a compact JWS with a JSON payload") from None
    if not isinstance(claims, dict):
        raise ClientFailed("assertion payload is not an object")
    return claims


def _check_claims(claims: dict[str, Any], audiences: list[str], now: float) -> float:
    """RFC 7523 §3: iss = sub, aud names us, exp bounded; returns exp."""
    if claims.get("iss") != claims.get("sub"):
        raise ClientFailed("assertion iss differs from sub")
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise ClientFailed("assertion aud does not name this server")
    exp = _number(claims.get("exp"))
    if exp is None:
        raise ClientFailed("assertion exp missing or not a number")
    if exp <= now - LEEWAY:
        raise ClientFailed("assertion expired")
    if exp > now + MAX_LIFETIME:
        raise ClientFailed("assertion lives longer than allowed")
    for name in ("nbf", "iat"):
        if name in claims:
            value = _number(claims[name])
            if value is None or value > now + LEEWAY:
                raise ClientFailed(f"assertion {name} is not a past number")
    return exp


def verify(
    assertion: str,
    *,
    issuer: str,
    load_client: Callable[[str], Any],
    record_jti: RecordJti,
) -> tuple[str, Any]:
    """Return (client_id, client) for a valid assertion, else raise `ClientFailed`."""
    claims = _unverified(assertion)
    subject = claims.get("sub")
    if not identifiers.is_client_id(subject):
        raise ClientFailed("assertion sub is not a client id")
    assert isinstance(subject, str)
    client = load_client(subject)
    if client is None:
        raise ClientFailed("assertion names an unknown client")
    if client.auth_method != METHOD or not client.jwks:
        raise ClientFailed("client has no registered keys for private_key_jwt")
    try:
        keys = KeySet.import_key_set(client.jwks)
        verified = dict(jwt.decode(assertion, keys, algorithms=ALGORITHMS).claims)
    except (JoseError, ValueError, TypeError):
        raise ClientFailed("assertion signature or algorithm not accepted") from None
    now = time.time()
    exp = _check_claims(verified, [issuer, issuer + "/token"], now)
    jti = verified.get("jti")
    if not identifiers.is_safe_token(jti, 255):
        raise ClientFailed("assertion jti missing or malformed")
    assert isinstance(jti, str)
    # Keep the jti past the assertion's expiry plus leeway, when it could no longer be accepted.
    if not record_jti(subject, jti, datetime.fromtimestamp(exp + LEEWAY, UTC)):
        raise ClientFailed("assertion jti replayed")
    return subject, client
