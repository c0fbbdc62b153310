"""The tables. Secrets (client secrets, codes, refresh tokens) are stored only as SHA-256 digests.

Relationships are ``lazy="raise"``: every query is explicit, so no hidden I/O runs inside Authlib's
synchronous hooks (architecture §1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from authserver.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class User(Base):
    __tablename__ = "users"

    # `sub` of every token: a random UUID, stable, never reassigned (OIDC Core §2, O2).
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # Unique lower-cased forms: two concurrent signups cannot both win (architecture §2).
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(32))
    username_normalized: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class Client(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # client_secret_basic | client_secret_post | private_key_jwt | none (oauth/client_auth.py)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    grant_types: Mapped[list[str]] = mapped_column()
    redirect_uris: Mapped[list[str]] = mapped_column()
    scopes: Mapped[list[str]] = mapped_column()
    # RFC 8707 resource indicators this client may ask for as `aud`.
    resources: Mapped[list[str]] = mapped_column(default=list)
    # Public keys for private_key_jwt (RFC 7523 client assertions); None for other methods.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # RFC 7662 §4: only clients an operator designated (resource servers) may introspect (I9).
    introspection_allowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # OIDC RP-Initiated Logout 1.0 §3: where the end-session endpoint may send the browser back to.
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))


class ClientSecret(Base):
    """A client may hold two secrets while one is rotated out (`expires_at` ends the overlap)."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    # SHA-256 hex of a 256-bit random secret: a slow hash buys nothing for such input.
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    """Security events (L2). Never holds a password, token, code or secret."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_event_at", "event", "at"),
        Index("ix_audit_events_user_id_at", "user_id", "at"),
        Index("ix_audit_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(36), default=None)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # success | failure | refused (a limit or a policy said no); see `domain/audit.py`.
    outcome: Mapped[str] = mapped_column(String(16), default="success", server_default=text("'success'"))


class SigningKey(Base):
    """A JWS signing key: next -> current -> retired -> deleted (architecture §3).

    The partial unique index allows one `current` and one `next` at a time, so two workers racing
    through a rotation cannot both promote a key.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        Index(
            "uq_signing_keys_live_state",
            "state",
            unique=True,
            sqlite_where=text("state IN ('current', 'next')"),
            postgresql_where=text("state IN ('current', 'next')"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint
    state: Mapped[str] = mapped_column(String(16))  # next | current | retired
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    # AES-256-GCM under the key-encryption secret; never the plain PEM (J11).
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), default=None)
    resource: Mapped[str | None] = mapped_column(Text, default=None)
    auth_time: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    # Set once, by the one conditional UPDATE that redeems the code; the family it started.
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    family_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # The browser session that signed the user in: the ID token's `sid` (OIDC Front-Channel Logout §2).
    sid: Mapped[str | None] = mapped_column(String(36), default=None)


class TokenFamily(Base):
    """One grant to one client for one user: every token issued from it, refreshes included."""

    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(Text)
    # Up to 64: RFC 8693's `urn:ietf:params:oauth:grant-type:token-exchange` is 46 characters.
    grant_type: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()  # absolute lifetime
    # Set when the family starts. The idle timeout is judged from the live refresh token's own
    # `created_at` (every use rotates), so a refresh writes nothing to the family row.
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), default=None)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("token_families.id", ondelete="CASCADE"), index=True)
    # The token this one replaced: a retry inside the grace window supersedes this token's
    # siblings, so a family never has two live branches.
    parent_sha256: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    scope: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class RevokedAccessToken(Base):
    """The denylist of self-contained access tokens revoked one by one (RFC 7009, RFC 7662 §2.2).

    Issuing a token writes nothing (architecture §2); revoking one records its `jti` until the
    token would have expired anyway, then `tokens prune` deletes the row. Tokens of a revoked
    family are refused through the family their `fam` claim names, not through rows here.
    """

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeCounter(Base):
    """A counter per kind of shared state that workers cache (`clients`, `revocations`).

    Every change bumps it in the changing transaction; each worker re-reads the counters at most
    every `cache_sync_interval` seconds and drops its cache when one moved (architecture §8).
    """

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class ClientAssertionJti(Base):
    """`jti`s of accepted client assertions until they expire: a replay hits the primary key (T12)."""

    __tablename__ = "client_assertion_jtis"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class BrowserSession(Base):
    """A browser's session at the pages (checklist S1-S3). Only SHA-256 of the cookie is stored.

    `id` is a public reference (the ID token's `sid`, the account page's list); the cookie value
    is a separate 256-bit secret. A session without `user_id` is a pre-login session: it carries
    the CSRF token of the login form and the pending authorization requests.
    """

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[datetime | None] = mapped_column(default=None)  # when the password was checked
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)  # idle timeout
    expires_at: Mapped[datetime] = mapped_column(index=True)  # absolute lifetime


class PendingAuthorization(Base):
    """An authorization request waiting for login or consent, bound to the browser that made it."""

    __tablename__ = "pending_authorizations"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_session_id: Mapped[str] = mapped_column(
        ForeignKey("browser_sessions.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    params: Mapped[dict[str, Any]] = mapped_column()  # the validated request parameters
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Consent(Base):
    """Scopes a user allowed a client (architecture §6); withdrawn from the account page."""

    __tablename__ = "consents"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    scopes: Mapped[list[str]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateLimitCounter(Base):
    """One rate-limit window per key (`domain/rate_limits.py`): started at the key's first hit,
    counted by one atomic UPSERT per hit, deleted by `tokens prune` once `resets_at` passed."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    resets_at: Mapped[datetime] = mapped_column(index=True)


class AccountToken(Base):
    """A password-reset or email-verification token (checklist E2, E6). Only its SHA-256 is kept.

    Single use: redeemed by one conditional DELETE. Issuing a new token of a purpose deletes the
    user's older ones, and a password change deletes every reset token of the user.
    """

    __tablename__ = "account_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # password_reset | email_verification
    # The address a verification token proves; a changed address makes the token useless.
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ExternalIdentity(Base):
    """A user of a trusted identity source (Better Auth) linked to a local account.

    Identity is the pair (`issuer`, `subject`) (checklist E7): a link is made by an operator or, when
    a setting allows, by creating the account on first use; never by matching an email. One link
    per source per local account, so two outside users can never share one account.
    """

    __tablename__ = "external_identities"
    __table_args__ = (Index("uq_external_identities_issuer_user_id", "issuer", "user_id", unique=True),)

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    linked_by: Mapped[str] = mapped_column(String(16))  # "operator" | "auto"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
