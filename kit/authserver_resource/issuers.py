"""Per-issuer trust settings: what a resource server accepts from each issuer it trusts.

Every issuer has its own keys (its JWKS), algorithm allow-list, audience, `typ` rule and claim
mapping, so trusting a second issuer can never widen what the first one is allowed to do
(RFC 8725 §3.1, §3.8, §3.9, §3.12).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# RFC 8725 §3.1: an explicit allow-list per issuer. Only asymmetric signatures: `none` and HMAC are
# never accepted (a resource server holds no shared secret, and HMAC "keyed" with a public key is
# the classic algorithm-confusion forgery). Each algorithm names the key type and curves it may use.
KEY_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "RS256": ("RSA", ()),
    "RS384": ("RSA", ()),
    "RS512": ("RSA", ()),
    "PS256": ("RSA", ()),
    "PS384": ("RSA", ()),
    "PS512": ("RSA", ()),
    "ES256": ("EC", ("P-256",)),
    "ES384": ("EC", ("P-384",)),
    "ES512": ("EC", ("P-521",)),
    "EdDSA": ("OKP", ("Ed25519", "Ed448")),  # RFC 8037 §3.1
    "Ed25519": ("OKP", ("Ed25519",)),  # RFC 9864 (fully specified EdDSA)
}

# RFC 9068 §2.2: the claims every JWT access token carries.
RFC9068_CLAIMS: tuple[str, ...] = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
# RFC 9068 §2.1 and §4: `typ` is `at+jwt`; `application/at+jwt` is the same media type in full.
AT_JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses, where plain http is acceptable in development."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """Refuse anything but https (or http on loopback): keys fetched over plain http from another
    host could be swapped by anyone on the path, and every signature check would then be worthless."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise ValueError(f"{what} must be an https URL (http only on loopback hosts): {url!r}")


@dataclass(frozen=True)
class ClaimMapping:
    """Where an issuer puts scopes, roles and the client id. Dotted paths reach into objects
    (`realm_access.roles`); values may be space-separated strings or lists of strings."""

    scope: str | None = "scope"  # RFC 9068 §2.2.3 / RFC 8693 §4.2
    roles: str | None = "roles"  # RFC 9068 §2.2.3.1 (RFC 7643 `roles`)
    client_id: str | None = "client_id"  # RFC 9068 §2.2 / RFC 8693 §4.3


@dataclass(frozen=True)
class JwksPolicy:
    """How the JWKS is cached (all seconds).

    `Cache-Control: max-age` is honoured but kept between `min_ttl` and `max_ttl`; `default_ttl`
    applies when the issuer sends none. An unknown `kid` triggers at most one refetch per
    `refetch_interval` (RFC 8725 §3.10 spirit: a token must not steer our outbound traffic), and a
    failed fetch is retried no sooner either.
    """

    min_ttl: float = 60.0
    max_ttl: float = 3600.0
    default_ttl: float = 300.0
    refetch_interval: float = 10.0
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.min_ttl <= self.default_ttl <= self.max_ttl:
            raise ValueError("JwksPolicy needs 0 < min_ttl <= default_ttl <= max_ttl")
        if self.refetch_interval <= 0 or self.timeout <= 0:
            raise ValueError("JwksPolicy refetch_interval and timeout must be positive")


@dataclass(frozen=True)
class Introspection:
    """RFC 7662 introspection for callers who need revocation to count at once.

    The resource server authenticates as a confidential client (`client_secret_basic`, RFC 7662
    §2.1). A positive answer is cached for `cache_ttl` seconds (never past the token's `exp`); a
    negative one or an error is never cached as success. `endpoint` defaults to the issuer
    metadata's `introspection_endpoint`.
    """

    client_id: str
    client_secret: str = field(repr=False)
    endpoint: str | None = None
    cache_ttl: float = 5.0
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.endpoint is not None:
            check_url(self.endpoint, "introspection endpoint")
        if self.cache_ttl < 0 or self.timeout <= 0:
            raise ValueError("Introspection cache_ttl must be >= 0 and timeout > 0")


@dataclass(frozen=True)
class Issuer:
    """One trusted issuer. The defaults fit authserver's RFC 9068 access tokens (RS256, `at+jwt`).

    - `issuer`: compared with `iss` byte for byte (RFC 8414 §3.3, RFC 8725 §3.8).
    - `audience`: this API's identifier(s); a token is accepted only if one of them is in its
      `aud` (RFC 9068 §4, RFC 8725 §3.9).
    - `algorithms`: the allow-list (RFC 8725 §3.1); see `KEY_TYPES`.
    - `typ`: `"at+jwt"` to demand RFC 9068 §2.1's header (so an ID token is never taken for an
      access token, RFC 8725 §3.11), or None for issuers that set none (Better Auth).
    - `jwks_uri` / `metadata_url`: where keys come from; by default the `jwks_uri` of the issuer's
      RFC 8414 metadata (falling back to OpenID Connect Discovery).
    - `leeway`: seconds of clock skew allowed on `exp`, `nbf` and `iat` (at most 300).
    """

    issuer: str
    audience: str | Sequence[str]
    algorithms: Sequence[str] = ("RS256",)
    typ: str | None = "at+jwt"
    jwks_uri: str | None = None
    metadata_url: str | None = None
    required_claims: Sequence[str] = RFC9068_CLAIMS
    claims: ClaimMapping = ClaimMapping()
    leeway: int = 30
    jwks: JwksPolicy = JwksPolicy()
    introspection: Introspection | None = None

    def __post_init__(self) -> None:
        check_url(self.issuer, "issuer")
        audiences = (self.audience,) if isinstance(self.audience, str) else tuple(self.audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError(f"issuer {self.issuer!r}: audience must be one or more non-empty strings")
        object.__setattr__(self, "audience", audiences)
        algorithms = tuple(self.algorithms)
        bad = [alg for alg in algorithms if alg not in KEY_TYPES]
        if not algorithms or bad:
            raise ValueError(
                f"issuer {self.issuer!r}: algorithms must be a non-empty subset of "
                f"{', '.join(KEY_TYPES)} (never none or HMAC); refused: {', '.join(bad)}"
            )
        object.__setattr__(self, "algorithms", algorithms)
        if self.typ is not None and self.typ.lower() not in AT_JWT_TYPES:
            raise ValueError(f"issuer {self.issuer!r}: typ must be 'at+jwt' or None")
        for url, what in ((self.jwks_uri, "jwks_uri"), (self.metadata_url, "metadata_url")):
            if url is not None:
                check_url(url, what)
        object.__setattr__(self, "required_claims", tuple(self.required_claims))
        if not 0 <= self.leeway <= 300:
            raise ValueError(f"issuer {self.issuer!r}: leeway must be 0 to 300 seconds")

    @property
    def audiences(self) -> tuple[str, ...]:
        """The accepted audiences as a tuple (normalised from `audience`)."""
        value = self.audience
        return (value,) if isinstance(value, str) else tuple(value)

    def metadata_urls(self) -> tuple[str, ...]:
        """Where to look for metadata, in order (RFC 8414 §3.1, then OIDC Discovery §4)."""
        if self.metadata_url is not None:
            return (self.metadata_url,)
        parts = urlsplit(self.issuer)
        path = parts.path.rstrip("/")
        origin = f"{parts.scheme}://{parts.netloc}"
        # RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
        return (
            f"{origin}/.well-known/oauth-authorization-server{path}",
            f"{origin}{path}/.well-known/openid-configuration",
        )
