"""The one typed settings object, read once at start-up and passed down.

No other module reads the environment: that keeps every knob documented in one place (README's
settings table mirrors this class) and lets tests build a `Settings` directly.

Sources, later ones winning: defaults, the TOML file named by ``AUTHSERVER_CONFIG`` (or ``--config``),
then ``AUTHSERVER_*`` environment variables.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from authserver.hosts import is_loopback_host

ENV_PREFIX = "AUTHSERVER_"
CONFIG_ENV = "AUTHSERVER_CONFIG"

# RFC 9106 §4, second recommended option: argon2id, t=3, p=4, m=64 MiB. We refuse anything weaker.
ARGON2_MIN_TIME_COST = 3
ARGON2_MIN_MEMORY_KIB = 64 * 1024
ARGON2_MIN_PARALLELISM = 4


# Consent-page wording for the scopes OpenID Connect Core §5.4 and §11 define, and ours.
DEFAULT_SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are (your account identifier)",
    "profile": "See your username",
    "email": "See your email address",
    "offline_access": "Stay connected when you are not using it",
    "roles": "See the roles your account holds",
}

# The config file for the `Settings` being built now; `load_settings` sets it for one call.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("authserver_config_file", default=None)


class SettingsError(Exception):
    """A setting is wrong; the message is one line that names it and is safe to print."""


class Settings(BaseSettings):
    """Every setting authserver reads. Field names map to ``AUTHSERVER_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True
    )

    database_url: str = "sqlite+aiosqlite:///./authserver.db"
    # Connections each worker keeps open. Requests beyond it wait for one rather than open and close
    # extra connections: that churn (a PostgreSQL backend per connect) halved throughput.
    db_pool_size: int = Field(20, ge=1, le=500)
    # Bounds on a database that is slow or gone (F2): a request answers 503 within about
    # connect + pool + statement timeouts instead of holding a worker.
    db_connect_timeout: float = Field(3.0, gt=0, le=60)
    db_pool_timeout: float = Field(3.0, gt=0, le=60)
    db_statement_timeout: float = Field(5.0, gt=0, le=300)
    issuer: str = "http://127.0.0.1:8000"
    keys_dir: Path = Path("./keys")

    # Lifetimes, in seconds.
    access_token_ttl: int = Field(600, ge=60, le=3600)  # RFC 9068 tokens: short-lived (J3)
    auth_code_ttl: int = Field(60, ge=10, le=600)  # RFC 6749 §4.1.2: at most 10 minutes
    refresh_token_ttl: int = Field(30 * 86400, ge=3600)  # absolute family lifetime
    refresh_idle_ttl: int = Field(14 * 86400, ge=300)  # idle timeout of a family

    # Signing keys (architecture §3).
    rsa_key_bits: Literal[2048, 3072] = 2048
    # The secret that encrypts private keys at rest. Unset: a file under keys_dir (dev mode).
    key_encryption_secret: SecretStr | None = None
    # JWKS Cache-Control max-age; a key waits at least this long as `next` before it signs.
    jwks_max_age: int = Field(300, ge=0, le=86400)
    # How often each worker re-reads the key set, so all converge on a rotation without restart.
    key_refresh_interval: float = Field(2.0, ge=0.05, le=60)
    # Rotate automatically when the current key is older than this (seconds); 0 = only by CLI.
    key_rotation_interval: int = Field(0, ge=0)
    # How stale a worker's caches of clients and token verdicts may be: a client change or a
    # revocation reaches every worker within this many seconds (authserver/caches.py).
    # The bound on a cached client or token verdict after a change elsewhere (authserver/caches.py).
    # 2 s, not less: a lifespan task re-reads every quarter of it, and on a saturated worker one
    # read can take most of a second (each round trip waits a turn of the busy event loop), so a
    # shorter bound made requests queue behind reads.
    cache_sync_interval: float = Field(2.0, ge=0.05, le=60)
    # Tolerance for clock skew between us and verifiers, added before a retired key is pruned.
    clock_skew: int = Field(60, ge=0, le=600)

    # Tokens.
    # RFC 9068 `aud` when the request names no (allowed) resource. Unset: the issuer.
    default_audience: str | None = None
    # Role -> scopes it unlocks. A scope named here is given to a user only through a role.
    role_scopes: dict[str, list[str]] = Field(default_factory=dict)
    # Origins allowed to call /token, /revoke and /signup from a browser (CORS). Metadata and JWKS
    # are public documents open to every origin; introspection and pages to none (C1-C3).
    cors_origins: list[str] = Field(default_factory=list)
    # Seconds a just-used refresh token may be retried and still get the same family's child.
    refresh_grace_seconds: int = Field(0, ge=0, le=60)

    # Password hashing (argon2id) and policy.
    argon2_time_cost: int = Field(ARGON2_MIN_TIME_COST, ge=ARGON2_MIN_TIME_COST, le=100)
    argon2_memory_kib: int = Field(ARGON2_MIN_MEMORY_KIB, ge=ARGON2_MIN_MEMORY_KIB, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(ARGON2_MIN_PARALLELISM, ge=ARGON2_MIN_PARALLELISM, le=64)
    password_min_length: int = Field(12, ge=12, le=128)
    password_max_length: int = Field(1024, ge=64, le=4096)

    # HTTP.
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024)
    # U7: answer 409 to a duplicate API signup. Off: duplicates and successes look alike (202).
    signup_reveals_conflicts: bool = True
    signup_enabled: bool = True

    log_level: str = "INFO"
    # SIGTERM: stop accepting, finish requests in flight for up to this many seconds, then exit.
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=300)
    # Prometheus metrics: 0 serves GET /metrics on the main port; another port serves them there
    # instead (from the `serve` process, so the main port does not expose them).
    metrics_port: int = Field(0, ge=0, le=65535)

    # Browser sign-in (pages, checklist S1-S3). A session ends after `session_idle_ttl` seconds
    # without a request or `session_ttl` seconds after login, whichever comes first.
    session_idle_ttl: int = Field(86400, ge=300, le=90 * 86400)
    session_ttl: int = Field(14 * 86400, ge=600, le=365 * 86400)
    # How long an authorization request may wait for login and consent.
    authorization_request_ttl: int = Field(900, ge=60, le=3600)
    # Plain words for scopes on the consent page; merged over the OIDC defaults in `scope_text`.
    scope_descriptions: dict[str, str] = Field(default_factory=dict)

    # Forgotten passwords and email verification (README "Forgotten passwords and email").
    password_reset_ttl: int = Field(1800, ge=300, le=86400)  # seconds a reset link works
    email_verification_ttl: int = Field(86400, ge=900, le=30 * 86400)
    # Refuse sign-in (login page, password grant) until the email address is verified.
    require_verified_email: bool = False
    # Where mail goes: `outbox` writes each message as an .eml file into `mail_outbox_dir`
    # (development), `smtp` sends it through `smtp_host`.
    mail_backend: Literal["outbox", "smtp"] = "outbox"
    mail_outbox_dir: Path = Path("./outbox")
    mail_from: str = "authserver <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    # starttls: plain connection upgraded with STARTTLS (port 587); tls: TLS from the first byte
    # (port 465); none: no encryption (a relay on the same host only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(10.0, gt=0, le=120)

    # Rate limits (README "Rate limits and brute force"): "N/period" with period second, minute,
    # hour or day (optionally "N/K minutes"); "off" disables one. Counted in the database (or
    # Redis when `redis_url` is set), so they hold across workers and machines, except the plain
    # request rates of /token, /introspect and /revoke, which without Redis are per worker.
    redis_url: SecretStr | None = None
    # Proxies whose X-Forwarded-For is believed (IP addresses or CIDR networks).
    trusted_proxies: list[str] = Field(default_factory=list)
    rate_limit_token_per_ip: str = "600/minute"  # noqa: S105
    rate_limit_introspect_per_ip: str = "1200/minute"
    rate_limit_revoke_per_ip: str = "600/minute"
    # Each anonymous /authorize can create a browser session and a pending request: a bound on
    # how fast one address can add rows (counted like the token endpoint: Redis, else per worker).
    rate_limit_authorize_per_ip: str = "300/minute"
    rate_limit_client_auth_failures_per_ip: str = "20/10 minutes"
    rate_limit_signup_per_ip: str = "20/hour"
    rate_limit_signin_per_ip: str = "100/15 minutes"
    rate_limit_password_forgot_per_ip: str = "20/hour"  # noqa: S105
    rate_limit_password_forgot_per_account: str = "3/hour"  # noqa: S105
    rate_limit_password_reset_per_ip: str = "20/hour"  # noqa: S105
    rate_limit_verification_resend_per_ip: str = "20/hour"
    rate_limit_verification_resend_per_account: str = "3/hour"
    # Brute force (checklist B3-B5): failures per (account, IP) before answers are delayed, and
    # before that pair is locked for the rest of `signin_window`; per account across all IPs,
    # attempts beyond `signin_account_ceiling` are slowed by `signin_account_delay` seconds.
    signin_window: int = Field(900, ge=60, le=86400)
    signin_free_attempts: int = Field(5, ge=1, le=100)
    signin_lock_after: int = Field(10, ge=2, le=100)
    signin_max_delay: float = Field(8.0, ge=0, le=60)
    signin_account_ceiling: int = Field(50, ge=5, le=10_000)
    signin_account_delay: float = Field(3.0, ge=0, le=60)

    # Better Auth as a trusted identity source for RFC 8693 token exchange
    # (authserver/oauth/better_auth.py). Unset URL: the grant is off and not advertised.
    better_auth_url: str | None = None  # its baseURL
    better_auth_issuer: str | None = None  # its JWTs' `iss`; default: the URL
    better_auth_audience: str | None = None  # its JWTs' `aud`; default: the URL
    better_auth_algorithms: list[str] = Field(default_factory=lambda: ["EdDSA"])
    # Create a local account on a Better Auth user's first exchange. Off: only accounts an operator
    # linked (`authserver identities link`) can be exchanged for.
    better_auth_auto_create_users: bool = False

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        # RFC 8414 §2: https, no query or fragment. Plain http only for loopback development.
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute https URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ValueError("plain http is allowed only for loopback hosts; use https")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @model_validator(mode="after")
    def _check_password_lengths(self) -> Settings:
        if self.password_max_length < self.password_min_length:
            raise ValueError("password_max_length must be at least password_min_length")
        return self

    @model_validator(mode="after")
    def _check_rate_limits(self) -> Settings:
        from authserver.domain.rate_limits import parse_limit

        for name in type(self).model_fields:
            if name.startswith("rate_limit_"):
                try:
                    parse_limit(getattr(self, name))
                except ValueError as exc:
                    raise ValueError(f"{ENV_PREFIX}{name.upper()}: {exc}") from None
        if self.signin_lock_after <= self.signin_free_attempts:
            raise ValueError("signin_lock_after must be greater than signin_free_attempts")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError("each entry must be an IP address or a CIDR network") from None
        return value

    @model_validator(mode="after")
    def _check_better_auth(self) -> Settings:
        """Build the kit's configuration once, so a bad URL or algorithm stops start-up."""
        if self.better_auth_url is None:
            if self.better_auth_issuer or self.better_auth_audience or self.better_auth_auto_create_users:
                raise ValueError("the better_auth_* settings need better_auth_url")
            return self
        from authserver.oauth.better_auth import better_auth_config

        better_auth_config(self)  # raises ValueError with the reason
        return self

    @property
    def session_cookie_name(self) -> str:
        """`__Host-` on https (Secure, Path=/, no Domain: RFC 6265bis §4.1.3.2); plain on loopback http,
        where browsers refuse the prefix because the cookie cannot be Secure."""
        return "__Host-authserver-session" if self.issuer_is_https else "authserver_session"

    def scope_text(self, scope: str) -> str | None:
        """What a scope lets the app do, in words a person understands; None when nobody said."""
        return self.scope_descriptions.get(scope) or DEFAULT_SCOPE_DESCRIPTIONS.get(scope)

    @property
    def audience(self) -> str:
        return self.default_audience or self.issuer

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def issuer_is_https(self) -> bool:
        return self.issuer.startswith("https://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _CONFIG_FILE.get()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    name = (ENV_PREFIX + loc[0].upper()) if loc else "settings"
    # pydantic's "msg" never contains the input value, so a secret in a bad URL is not echoed.
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{name}: {message}"


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build settings or raise `SettingsError` with one line naming the first bad setting.

    `config_file` wins over ``AUTHSERVER_CONFIG``; environment variables win over the file.
    """
    named = config_file or os.environ.get(CONFIG_ENV) or None
    path = Path(named) if named else None
    if path is not None and not path.is_file():
        raise SettingsError(f"{CONFIG_ENV}: config file {named!r} does not exist")
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(dict(exc.errors()[0]))) from None
    except (ValueError, OSError) as exc:  # e.g. a TOML syntax error in the config file
        raise SettingsError(f"{CONFIG_ENV}: cannot read config file: {exc}") from None
    finally:
        _CONFIG_FILE.reset(token)
