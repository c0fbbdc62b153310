"""Validation of JWT access tokens (RFC 9068 §4) from one or more trusted issuers.

The order follows RFC 9068 §4 and RFC 8725: parse; pick the trusted issuer named by `iss` (only
to choose whose keys and rules apply: nothing is believed before the signature verifies); check
the header against that issuer's rules (`alg` allow-list, `typ`, `kid`, no `crit`); verify the
signature with a key from that issuer's JWKS only; then `iss`, `aud`, `exp`, `nbf`, `iat` and the
required claims; then, if configured, ask the issuer's introspection endpoint whether the token was
revoked. Scopes are checked by the caller (`require_scopes`), which turns a shortfall into 403.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jws import JWSRegistry

from authserver_resource._fetch import monotonic
from authserver_resource.errors import InvalidToken
from authserver_resource.introspection import Introspector
from authserver_resource.issuers import AT_JWT_TYPES, Issuer
from authserver_resource.jwks import JwksCache
from authserver_resource.metadata import MetadataCache
from authserver_resource.principal import Principal, lookup, string_set

log = logging.getLogger("authserver_resource")

MAX_TOKEN_LENGTH = 16 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")  # RFC 7515 §2: base64url without padding
_MALFORMED = "The access token is malformed."
_INVALID = "The access token is invalid."


@dataclass(frozen=True)
class _Trusted:
    issuer: Issuer
    jwks: JwksCache
    introspector: Introspector | None


def _segment(value: str) -> Any:
    if not _SEGMENT.fullmatch(value):
        raise InvalidToken(_MALFORMED, detail="segment is not base64url")
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidToken(_MALFORMED, detail="segment is not JSON") from exc


def _numeric(value: Any) -> TypeGuard[int | float]:
    """RFC 7519 §2 NumericDate: a JSON number (a bool is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class JwtValidator:
    """Validates JWT access tokens from the configured issuers.

    `http` is the client used for metadata, JWKS and introspection (the caller owns and closes it).
    `clock` gives wall time for `exp`/`nbf`/`iat`; `monotonic` drives cache lifetimes.
    """

    def __init__(
        self,
        issuers: Sequence[Issuer],
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = monotonic,
    ) -> None:
        self._clock = clock
        self._trusted: dict[str, _Trusted] = {}
        for issuer in issuers:
            if issuer.issuer in self._trusted:
                raise ValueError(f"issuer {issuer.issuer!r} configured twice")
            metadata = MetadataCache(issuer, http, clock=monotonic)
            introspector = (
                Introspector(issuer, issuer.introspection, http, metadata, clock=monotonic, wall=clock)
                if issuer.introspection is not None
                else None
            )
            jwks_cache = JwksCache(issuer, http, metadata, clock=monotonic)
            self._trusted[issuer.issuer] = _Trusted(issuer, jwks_cache, introspector)

    @property
    def issuers(self) -> tuple[str, ...]:
        """The trusted issuer identifiers."""
        return tuple(self._trusted)

    async def validate(self, token: str) -> Principal:
        """The principal of a valid token, else InvalidToken (or IssuerUnavailable: retry later)."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken(_MALFORMED, detail="not a compact JWS")
        head, body, signature = token.split(".")
        header, unverified = _segment(head), _segment(body)
        if not signature or not isinstance(header, dict) or not isinstance(unverified, dict):
            raise InvalidToken(_MALFORMED, detail="header or claims not a JSON object, or unsigned")
        iss = unverified.get("iss")
        trusted = self._trusted.get(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise InvalidToken("The access token's issuer is not trusted.", detail="untrusted iss")
        issuer = trusted.issuer
        alg, kid = _check_header(header, issuer)
        key = await trusted.jwks.key_for(kid, alg)
        claims = _verify_signature(token, key.key, alg)
        self._check_claims(claims, issuer)
        principal = _principal(claims, issuer)
        if trusted.introspector is not None:
            await trusted.introspector.check(token, expires_at=principal.expires_at)
        return principal

    def _check_claims(self, claims: Mapping[str, Any], issuer: Issuer) -> None:
        now = self._clock()
        leeway = issuer.leeway
        missing = [name for name in issuer.required_claims if name not in claims]
        if missing:
            raise InvalidToken(_INVALID, detail=f"missing claims {', '.join(missing)}")
        if claims.get("iss") != issuer.issuer:  # RFC 9068 §4 item 3, RFC 8725 §3.8
            raise InvalidToken("The access token's issuer is not trusted.", detail="iss changed")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not any(a in issuer.audiences for a in audiences):
            # RFC 9068 §4 item 4: the resource server MUST reject a token not meant for it.
            raise InvalidToken("The access token is not meant for this resource.", detail="aud")
        exp = claims.get("exp")
        if not _numeric(exp):  # RFC 9068 §2.2: exp is REQUIRED for access tokens
            raise InvalidToken(_INVALID, detail="exp missing or not a number")
        if now >= exp + leeway:  # RFC 7519 §4.1.4, RFC 9068 §4 item 6
            raise InvalidToken("The access token expired.", detail="expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not _numeric(nbf) or nbf > now + leeway):  # RFC 7519 §4.1.5
            raise InvalidToken("The access token is not valid yet.", detail="nbf in the future")
        iat = claims.get("iat")
        if iat is not None and (not _numeric(iat) or iat > now + leeway):  # RFC 7519 §4.1.6
            raise InvalidToken(_INVALID, detail="iat in the future")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken(_INVALID, detail="sub missing or not a string")


def _check_header(header: Mapping[str, Any], issuer: Issuer) -> tuple[str, str]:
    alg = header.get("alg")
    # RFC 8725 §3.1: only this issuer's allow-list (never none, never HMAC: Issuer refuses both).
    if not isinstance(alg, str) or alg not in issuer.algorithms:
        raise InvalidToken(_INVALID, detail=f"alg {alg!r} not allowed for this issuer")
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extensions, so we must refuse
        raise InvalidToken(_INVALID, detail="crit header")
    typ = header.get("typ")
    if issuer.typ is not None and (not isinstance(typ, str) or typ.lower() not in AT_JWT_TYPES):
        # RFC 9068 §4 item 1 and RFC 8725 §3.11: an ID token or other JWT is not an access token.
        raise InvalidToken(_INVALID, detail=f"typ {typ!r} is not at+jwt")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken(_INVALID, detail="no kid")
    return alg, kid


def _verify_signature(token: str, key: Any, alg: str) -> dict[str, Any]:
    # A registry allowing exactly this one algorithm; header parameters outside the JOSE registry
    # are tolerated (issuers add their own), `crit` was refused above.
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    try:
        with warnings.catch_warnings():
            # joserfc flags "EdDSA" as superseded by RFC 9864's "Ed25519"; Better Auth still signs
            # with it and the signature scheme is the same, so the warning says nothing here.
            warnings.simplefilter("ignore", SecurityWarning)
            verified = jws.deserialize_compact(token, key, registry=registry)
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidToken(_INVALID, detail=f"signature: {type(exc).__name__}") from exc
    if not isinstance(claims, dict):
        raise InvalidToken(_MALFORMED, detail="claims not a JSON object")
    return claims


def _principal(claims: Mapping[str, Any], issuer: Issuer) -> Principal:
    mapping = issuer.claims
    client_id = lookup(claims, mapping.client_id)
    exp = claims.get("exp")
    return Principal(
        subject=claims["sub"],
        issuer=issuer.issuer,
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=string_set(lookup(claims, mapping.scope)),
        roles=string_set(lookup(claims, mapping.roles)),
        claims=claims,
        source="jwt",
        expires_at=int(exp) if _numeric(exp) else None,
    )
