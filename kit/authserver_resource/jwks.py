"""The issuer's signing keys (RFC 7517 JWKS): fetched over httpx, cached, refreshed safely.

- Cached for the response's `Cache-Control: max-age`, kept between the policy's floor and ceiling.
- An unknown `kid` refetches once, at most once per `refetch_interval` (concurrent misses share
  one fetch), so issuer-side rotation is picked up without a restart while a flood of bogus `kid`s
  cannot hammer the issuer (RFC 8725 §3.10 in spirit; checklist J5).
- A failed refresh keeps serving the keys it had (a JWKS outage must not become our outage).
- Keys come only from this document, by `kid`: `jwk`, `jku`, `x5u` and `x5c` token headers are never
  consulted (RFC 8725 §3.10), symmetric (`oct`) keys are never loaded, and a key is used only with an
  algorithm its type and curve fit (RFC 8725 §3.1).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from authserver_resource._fetch import FetchError, RateLimitedRefresh, get_json, monotonic
from authserver_resource.errors import InvalidToken, IssuerUnavailable
from authserver_resource.issuers import KEY_TYPES, Issuer
from authserver_resource.metadata import MetadataCache

log = logging.getLogger("authserver_resource")

VerifyKey = RSAKey | ECKey | OKPKey

# Only public members are imported: a JWKS that leaks private members (checklist J8) must not make
# us hold private key material.
_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x")}
_MAX_KEYS = 100
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class PublicKey:
    """One verification key from the JWKS with the `alg` it was published for, if any."""

    kid: str
    key: VerifyKey
    alg: str | None

    def fits(self, alg: str) -> bool:
        """RFC 8725 §3.1: the key's type and curve must fit `alg`, and a key published for one
        algorithm (RFC 7517 §4.4 `alg`) is never used with another."""
        if self.alg is not None and self.alg != alg:
            return False
        kty, curves = KEY_TYPES[alg]
        if self.key.key_type != kty:
            return False
        return not curves or (not isinstance(self.key, RSAKey) and self.key.curve_name in curves)


def cache_seconds(cache_control: str | None, issuer: Issuer) -> float:
    """How long to keep a JWKS: `max-age` clamped to the policy, the floor for no-cache/no-store."""
    policy = issuer.jwks
    if cache_control:
        if _NO_CACHE.search(cache_control):
            return policy.min_ttl
        match = _MAX_AGE.search(cache_control)
        if match:
            return min(max(float(match.group(1)), policy.min_ttl), policy.max_ttl)
    return policy.default_ttl


def parse_jwks(document: Any, algorithms: tuple[str, ...]) -> dict[str, PublicKey]:
    """The usable verification keys of a JWKS document, by `kid`.

    Entries that are malformed, symmetric, not for signatures, too weak, of a type none of the
    allowed algorithms uses, or whose `kid` is not unique are skipped (one bad entry must not take
    the good keys down). Raises FetchError when the document is not a JWKS at all.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise FetchError("JWKS document has no 'keys' list")
    allowed_types = {KEY_TYPES[alg][0] for alg in algorithms}
    keys: dict[str, PublicKey] = {}
    duplicates: set[str] = set()
    for entry in document["keys"][:_MAX_KEYS]:
        key = _import_entry(entry, allowed_types)
        if key is None:
            continue
        if key.kid in keys:
            duplicates.add(key.kid)  # ambiguous: which one did the issuer mean? Neither.
        keys[key.kid] = key
    for kid in duplicates:
        del keys[kid]
    return keys


def _import_entry(entry: Any, allowed_types: set[str]) -> PublicKey | None:
    if not isinstance(entry, dict):
        return None
    kid, kty, alg = entry.get("kid"), entry.get("kty"), entry.get("alg")
    if not isinstance(kid, str) or not kid or kty not in _PUBLIC_MEMBERS or kty not in allowed_types:
        return None
    if entry.get("use", "sig") != "sig":  # RFC 7517 §4.2
        return None
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):  # RFC 7517 §4.3
        return None
    if alg is not None and alg not in KEY_TYPES:
        return None
    public = {name: entry[name] for name in _PUBLIC_MEMBERS[kty] if name in entry}
    if kty == "RSA" and _rsa_bits(public.get("n")) < _MIN_RSA_BITS:
        log.warning("JWKS entry %r skipped: RSA key under %d bits", kid, _MIN_RSA_BITS)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SecurityWarning)  # a key joserfc doubts is a key we skip
            key = import_key(public, kty)
    except (JoseError, SecurityWarning, ValueError, TypeError, KeyError) as exc:
        log.warning("JWKS entry %r skipped: %s", kid, type(exc).__name__)
        return None
    if not isinstance(key, RSAKey | ECKey | OKPKey):
        return None
    return PublicKey(kid, key, alg)


def _rsa_bits(modulus: Any) -> int:
    if not isinstance(modulus, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except (ValueError, binascii.Error):
        return 0
    return int.from_bytes(raw, "big").bit_length()


class JwksCache:
    """One issuer's keys. `key_for(kid, alg)` is the only way the validator gets a key."""

    def __init__(
        self,
        issuer: Issuer,
        http: httpx.AsyncClient,
        metadata: MetadataCache,
        *,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self._issuer = issuer
        self._http = http
        self._metadata = metadata
        self._clock = clock
        self._keys: Mapping[str, PublicKey] | None = None
        self._expires_at = 0.0
        self._refresh = RateLimitedRefresh(self._fetch, issuer.jwks.refetch_interval, clock)

    async def key_for(self, kid: str, alg: str) -> PublicKey:
        """The key with this `kid`, refetching the JWKS once (rate-limited) if it is unknown.

        InvalidToken when the kid stays unknown or the key does not fit `alg`; IssuerUnavailable
        only when no JWKS was ever fetched and fetching fails now.
        """
        if self._keys is None or self._clock() >= self._expires_at:
            await self._refresh.run()
        if self._keys is None:
            raise IssuerUnavailable(
                "The token issuer cannot be reached.", detail=f"no JWKS for {self._issuer.issuer}"
            )
        key = self._keys.get(kid)
        if key is None:
            await self._refresh.run()  # rotation: the issuer may have published a new key
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("The access token is invalid.", detail="unknown kid")
        if not key.fits(alg):
            raise InvalidToken("The access token is invalid.", detail=f"key {kid} does not fit {alg}")
        return key

    async def _fetch(self) -> None:
        try:
            uri = self._issuer.jwks_uri or await self._metadata.endpoint("jwks_uri")
            found = await get_json(self._http, uri, timeout_seconds=self._issuer.jwks.timeout)
            if found is None:
                raise FetchError(f"GET {uri}: not found")
            document, headers = found
            keys = parse_jwks(document, tuple(self._issuer.algorithms))
        except (FetchError, IssuerUnavailable) as exc:
            # Keep what we had: tokens signed with known keys still verify during the outage.
            log.warning("JWKS refresh for %s failed: %s", self._issuer.issuer, exc)
            return
        self._keys = keys
        self._expires_at = self._clock() + cache_seconds(headers.get("cache-control"), self._issuer)
