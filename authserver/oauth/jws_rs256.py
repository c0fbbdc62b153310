"""RS256 compact JWS signing (RFC 7515 §7.1, RFC 7518 §3.3) for the tokens we issue.

Signing is on the hot path of every token response. The general JOSE library spends about as much
time on its registries and checks as OpenSSL spends on the RSA signature itself; for the one
algorithm and header shape we issue, the bytes are simple to build, so we build them here and
hand only the signature to `cryptography`. Verification (introspection, userinfo) is the same
few strict steps in reverse, for tokens we issued only.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=64)
def _encoded_header(kid: str, typ: str) -> bytes:
    """The protected header never changes for a (kid, typ): encode it once."""
    return b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": typ}, separators=(",", ":")).encode())


def sign(claims: dict[str, Any], *, kid: str, typ: str, key: rsa.RSAPrivateKey) -> str:
    payload = b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    signing_input = _encoded_header(kid, typ) + b"." + payload
    signature = key.sign(signing_input, _PKCS1, _SHA256)
    return (signing_input + b"." + b64url(signature)).decode("ascii")


_B64URL_RE = re.compile(rb"[A-Za-z0-9_-]*")
MAX_TOKEN_LENGTH = 8192


def _b64url_decode(part: bytes) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): anything else is not ours."""
    if not _B64URL_RE.fullmatch(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))


def verified_claims(
    token: str, *, typ: str, public_key_for: Callable[[str], rsa.RSAPublicKey | None]
) -> dict[str, Any] | None:
    """The claims of an RS256 compact JWS we signed, or None; never raises on any input.

    RFC 8725 §3.1: the algorithm is fixed (a header naming `none`, HS256 or anything else is
    refused, never used to choose how to verify); the key comes only from our key ring by `kid`,
    never from the token (`jwk`, `jku`, `x5u`, `x5c` are ignored); `typ` must match, so an ID
    token is not an access token (RFC 9068 §4); a `crit` header we cannot honour is refused
    (RFC 7515 §4.1.11).
    """
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2 or not token.isascii():
        return None
    head, payload, signature = token.encode("ascii").split(b".")
    try:
        header = json.loads(_b64url_decode(head))
        if not isinstance(header, dict) or header.get("alg") != "RS256" or header.get("typ") != typ:
            return None
        kid = header.get("kid")
        if not isinstance(kid, str) or "crit" in header:
            return None
        key = public_key_for(kid)
        if key is None:
            return None
        key.verify(_b64url_decode(signature), head + b"." + payload, _PKCS1, _SHA256)
        claims = json.loads(_b64url_decode(payload))
    except (ValueError, InvalidSignature, RecursionError):  # JSONDecodeError is a ValueError
        return None
    return claims if isinstance(claims, dict) else None
