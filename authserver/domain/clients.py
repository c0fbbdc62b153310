"""OAuth clients: registration rules, secrets and their rotation.

Secrets are 256-bit random values shown once; only their SHA-256 is stored and compared in constant
time (architecture §2). During a rotation a client holds two secrets until the old one expires.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import Client, ClientAssertionJti, ClientSecret
from authserver.db.types import utcnow
from authserver.domain import audit, change_counters, token_families
from authserver.domain.errors import InvalidInput, NotFound
from authserver.hosts import is_loopback_host

PRIVATE_KEY_JWT = "private_key_jwt"  # RFC 7523 client assertions: the client holds no secret
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (RFC 8693 grant type)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password", TOKEN_EXCHANGE)
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
_BAD_SCHEMES = {"javascript", "data", "vbscript", "file", "about", "blob"}
# RFC 8252 §7.1: a private-use scheme for native apps is a reversed domain name with a dot.
_PRIVATE_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


_ID_ALPHABET = string.ascii_letters + string.digits


def new_client_id() -> str:
    """24 letters and digits (~143 bits). No '-' or '_': an id starting with '-' reads as an option
    on a command line, and nothing in it needs escaping in URLs or Basic auth (RFC 6749 §2.3.1)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits from the CSPRNG (T11)


@dataclass(frozen=True)
class RegisteredClient:
    client: Client
    secret: str | None  # shown once, never stored


# RFC 3986 §2: the characters a URI may hold, minus '*' (read as a wildcard by some matchers) and
# '\\' (browsers read it as '/', Python does not). Everything else must be percent-encoded.
_URI_CHARS_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()+,;=%]+")
_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Percent-encoded C0 controls and DEL: a browser may decode them where Python would not.
_ENCODED_CONTROL_RE = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff])")


def validate_redirect_uri(uri: str) -> str:
    """A2: one reading only. Absolute; https, loopback http, or a native app's private scheme;
    no fragment, userinfo, wildcard, backslash or encoded control character (RFC 9700 §2.1,
    RFC 6749 §3.1.2, RFC 8252 §7)."""

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(f"Redirect URI {uri!r} {why}", field="redirect_uri")

    if len(uri) > 2000 or not _URI_CHARS_RE.fullmatch(uri):
        raise refuse("has characters a URI may not hold (spaces, '\\', '*', non-ASCII, controls).")
    if _PERCENT_RE.search(uri) or _ENCODED_CONTROL_RE.search(uri):
        raise refuse("has a malformed or control-character percent-encoding.")
    if "#" in uri:
        raise refuse("must not have a fragment.")
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. a bracketed host that is not an IPv6 address
        raise refuse("is not a valid URI.") from None
    scheme = parts.scheme.lower()
    if not scheme or scheme in _BAD_SCHEMES:
        raise refuse("must be an absolute https URL.")
    if "@" in parts.netloc:
        raise refuse("must not carry user information ('user@host').")
    if "%" in parts.netloc:
        # A browser decodes and re-reads an encoded host ('a.example%2eevil.com' is
        # 'a.example.evil.com' to it), Python does not; IPv6 zone ids have no place here either.
        raise refuse("must not percent-encode anything in its host.")
    if scheme in ("http", "https"):
        try:
            host, _port = parts.hostname, parts.port
        except ValueError:
            raise refuse("has an invalid port.") from None
        if not host:
            raise refuse("has no host.")
        if scheme == "http" and not is_loopback_host(host):
            raise refuse("uses plain http; only loopback hosts may.")
    elif not _PRIVATE_SCHEME_RE.fullmatch(scheme):
        raise refuse("uses a scheme that is not a reversed domain name (RFC 8252 §7.1).")
    return uri


def parse_scopes(raw: str | Iterable[str]) -> list[str]:
    tokens = raw.split() if isinstance(raw, str) else [t for s in raw for t in s.split()]
    for token in tokens:
        if not SCOPE_TOKEN_RE.fullmatch(token):
            raise InvalidInput(f"Scope {token!r} has characters RFC 6749 §3.3 forbids.", field="scope")
    return sorted(set(tokens))


_PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
ASSERTION_KEY_TYPES = ("RSA", "EC", "OKP")


def validate_client_jwks(jwks: object) -> dict[str, Any]:
    """A client's public keys for private_key_jwt: asymmetric, public members only."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or len(keys) > 10:
        raise InvalidInput("The JWKS must be an object with 1 to 10 keys.", field="jwks")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ASSERTION_KEY_TYPES:
            raise InvalidInput("Each key must be an RSA, EC or OKP public key.", field="jwks")
        if _PRIVATE_JWK_MEMBERS & set(key):
            raise InvalidInput(
                "The JWKS must hold public keys only; it contains private members.", field="jwks"
            )
        try:
            KeySet.import_key_set({"keys": [key]})
        except (JoseError, ValueError, TypeError):
            raise InvalidInput("A key in the JWKS cannot be read.", field="jwks") from None
    return {"keys": keys}


async def record_assertion_jti(session: AsyncSession, client_id: str, jti: str, expires_at: datetime) -> bool:
    """True the first time (client, jti) is seen; a replay hits the primary key (RFC 7523 §3)."""
    if len(jti) > 255:
        return False
    try:
        async with session.begin_nested():
            session.add(ClientAssertionJti(client_id=client_id, jti=jti, expires_at=expires_at))
            await session.flush()
    except IntegrityError:
        return False
    return True


def validate_post_logout_uri(uri: str) -> str:
    """OIDC RP-Initiated Logout §3.1: registered like a redirect URI, matched exactly at logout."""
    try:
        return validate_redirect_uri(uri)
    except InvalidInput as error:
        raise InvalidInput(error.message, field="post_logout_redirect_uri") from None


def _validate_resource(uri: str) -> str:
    """RFC 8707 §2: an absolute URI without a fragment, with one reading (the redirect-URI
    character rules)."""
    refused = InvalidInput(f"Resource {uri!r} must be an absolute URI without a fragment.", field="resource")
    if len(uri) > 2000 or not _URI_CHARS_RE.fullmatch(uri) or "#" in uri:
        raise refused
    try:
        parts = urlsplit(uri)
        _port = parts.port
    except ValueError:
        raise refused from None
    if not parts.scheme or not parts.netloc or "%" in parts.netloc or "@" in parts.netloc:
        raise refused
    return uri


def _grants(grant_types: Iterable[str], *, public: bool, introspection_allowed: bool) -> list[str]:
    grants = sorted(set(grant_types))
    if not grants:
        raise InvalidInput("At least one grant type is required.", field="grant_type")
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise InvalidInput(
                f"Unknown grant type {grant!r}; choose from {', '.join(GRANT_TYPES)}.",
                field="grant_type",
            )
    if public and "client_credentials" in grants:
        # RFC 6749 §4.4: only confidential clients may use client_credentials.
        raise InvalidInput("A public client cannot use client_credentials.", field="grant_type")
    if public and "password" in grants:
        # RFC 9700 §2.4 allows the password grant at most for trusted first-party apps, and a
        # public client cannot prove it is one.
        raise InvalidInput("A public client cannot use the password grant.", field="grant_type")
    if public and TOKEN_EXCHANGE in grants:
        # RFC 8693 §2.1 leaves client authentication to us: turning another system's credential
        # into our tokens must name an accountable client, and a public client proves nothing.
        raise InvalidInput("A public client cannot use token exchange.", field="grant_type")
    if public and introspection_allowed:
        raise InvalidInput("A public client cannot introspect tokens (RFC 7662 §2.1).", field="introspect")
    return grants


def _redirect_uris(redirect_uris: Iterable[str], grants: list[str]) -> list[str]:
    uris = [validate_redirect_uri(u) for u in dict.fromkeys(redirect_uris)]
    if "authorization_code" in grants and not uris:
        raise InvalidInput("authorization_code needs at least one redirect URI.", field="redirect_uri")
    return uris


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    grant_types: Iterable[str],
    redirect_uris: Iterable[str] = (),
    scopes: str | Iterable[str] = "",
    public: bool = False,
    auth_method: str | None = None,
    resources: Iterable[str] = (),
    jwks: object = None,
    introspection_allowed: bool = False,
    post_logout_redirect_uris: Iterable[str] = (),
) -> RegisteredClient:
    logout_uris = [validate_post_logout_uri(u) for u in dict.fromkeys(post_logout_redirect_uris)]
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Client name must be 1 to 200 characters.", field="name")
    grants = _grants(grant_types, public=public, introspection_allowed=introspection_allowed)
    uris = _redirect_uris(redirect_uris, grants)
    method = auth_method or ("none" if public else "client_secret_basic")
    allowed_methods = ("none",) if public else ("client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT)
    if method not in allowed_methods:
        raise InvalidInput(
            f"Auth method {method!r} does not fit a {'public' if public else 'confidential'} client.",
            field="auth_method",
        )
    if (method == PRIVATE_KEY_JWT) != (jwks is not None):
        raise InvalidInput("private_key_jwt needs the client's public JWKS, and only it does.", field="jwks")
    client = Client(
        client_id=new_client_id(),
        name=name,
        public=public,
        token_endpoint_auth_method=method,
        grant_types=grants,
        redirect_uris=uris,
        scopes=parse_scopes(scopes),
        resources=[_validate_resource(r) for r in dict.fromkeys(resources)],
        jwks=validate_client_jwks(jwks) if jwks is not None else None,
        introspection_allowed=introspection_allowed,
        post_logout_redirect_uris=logout_uris,
    )
    session.add(client)
    secret = None
    if not public and method != PRIVATE_KEY_JWT:
        secret = new_secret()
        session.add(ClientSecret(client_id=client.client_id, secret_sha256=hash_secret(secret)))
    await session.flush()
    await change_counters.bump(session, change_counters.CLIENTS)
    await audit.record(session, "client.created", client_id=client.client_id)
    return RegisteredClient(client, secret)


async def update_client(
    session: AsyncSession,
    client_id: str,
    *,
    grant_types: Iterable[str] | None = None,
    redirect_uris: Iterable[str] | None = None,
    scopes: str | Iterable[str] | None = None,
    resources: Iterable[str] | None = None,
    introspection_allowed: bool | None = None,
) -> Client:
    """Replace what is given, checked by the same rules as registration. Every worker applies the
    change within `cache_sync_interval` (its cached copy is dropped through the change counter).
    Tokens already issued keep what they were granted until they expire."""
    client = await get_client(session, client_id)
    allowed = client.introspection_allowed if introspection_allowed is None else introspection_allowed
    grants = _grants(
        client.grant_types if grant_types is None else grant_types,
        public=client.public,
        introspection_allowed=allowed,
    )
    uris = _redirect_uris(client.redirect_uris if redirect_uris is None else redirect_uris, grants)
    client.grant_types, client.redirect_uris, client.introspection_allowed = grants, uris, allowed
    if scopes is not None:
        client.scopes = parse_scopes(scopes)
    if resources is not None:
        client.resources = [_validate_resource(r) for r in dict.fromkeys(resources)]
    await session.flush()
    await change_counters.bump(session, change_counters.CLIENTS)
    await audit.record(session, "client.updated", client_id=client_id)
    return client


async def get_client(session: AsyncSession, client_id: str) -> Client:
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound("No such client.")
    return client


async def list_clients(session: AsyncSession) -> Sequence[Client]:
    return (await session.scalars(select(Client).order_by(Client.created_at))).all()


async def delete_client(session: AsyncSession, client_id: str) -> None:
    await get_client(session, client_id)
    # Revoke first so the audit log names each family; the rows then go with the client (R5).
    await token_families.revoke_client_families(session, client_id, "client_deleted")
    await session.execute(delete(ClientSecret).where(ClientSecret.client_id == client_id))
    await session.execute(delete(Client).where(Client.client_id == client_id))
    # Its tokens die at once: cached clients and cached "active" verdicts are dropped everywhere.
    await change_counters.bump(session, change_counters.CLIENTS, change_counters.REVOCATIONS)
    await audit.record(session, "client.deleted", client_id=client_id)


@dataclass(frozen=True)
class ClientEntry:
    """A client and every secret it holds, with when each stops working: what a worker caches.

    The row is detached from its session and only read. Secrets are filtered by time when
    checked, not when loaded, so a cached entry still refuses a secret whose overlap has ended.
    """

    client: Client
    secrets: tuple[tuple[str, datetime | None], ...]

    def live_secret_hashes(self, now: datetime) -> list[str]:
        return [digest for digest, expires in self.secrets if expires is None or expires > now]


async def load_client_entry(session: AsyncSession, client_id: str) -> ClientEntry | None:
    """The client and all its secrets in one round trip."""
    rows = (
        await session.execute(
            select(Client, ClientSecret.secret_sha256, ClientSecret.expires_at)
            .outerjoin(ClientSecret, ClientSecret.client_id == Client.client_id)
            .where(Client.client_id == client_id)
        )
    ).all()
    if not rows:
        return None
    client = rows[0][0]
    session.expunge(client)
    secrets = tuple((digest, expires) for _, digest, expires in rows if digest is not None)
    return ClientEntry(client, secrets)


async def load_client_with_secrets(session: AsyncSession, client_id: str) -> tuple[Client, list[str]] | None:
    """The client and its live secret hashes."""
    entry = await load_client_entry(session, client_id)
    return (entry.client, entry.live_secret_hashes(utcnow())) if entry else None


def secret_matches(presented: str, stored_hashes: Iterable[str]) -> bool:
    """Constant-time over each candidate; every candidate is checked (no early exit)."""
    digest = hash_secret(presented)
    matched = False
    for stored in stored_hashes:
        matched |= hmac.compare_digest(digest, stored)
    return matched


async def rotate_secret(session: AsyncSession, client_id: str, overlap: timedelta) -> str:
    """Issue a new secret; every older live secret keeps working for `overlap`, then is refused."""
    client = await get_client(session, client_id)
    if client.public or client.token_endpoint_auth_method == PRIVATE_KEY_JWT:
        raise InvalidInput(
            "This client authenticates without a secret; there is none to rotate.", field="client_id"
        )
    now = utcnow()
    await session.execute(
        update(ClientSecret)
        .where(
            ClientSecret.client_id == client_id,
            or_(ClientSecret.expires_at.is_(None), ClientSecret.expires_at > now + overlap),
        )
        .values(expires_at=now + overlap)
    )
    secret = new_secret()
    session.add(ClientSecret(client_id=client_id, secret_sha256=hash_secret(secret)))
    await session.flush()
    await change_counters.bump(session, change_counters.CLIENTS)
    await audit.record(
        session, "client.secret_rotated", client_id=client_id, overlap_seconds=int(overlap.total_seconds())
    )
    return secret
