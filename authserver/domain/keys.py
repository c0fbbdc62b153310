"""Signing keys: lifecycle, encryption at rest, and a per-process cache of parsed key objects.

Architecture §3. The database is the authority; each worker re-reads the key set every
`key_refresh_interval` seconds, so all workers and machines agree on the current key within seconds
of a rotation, with no restart. Parsing an RSA private key costs ~100x an RS256 signature (OpenSSL 3
checks the key on load), so a key object is built once per kid and reused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import RSAKey
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import SigningKey
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain import audit
from authserver.domain.errors import DomainError, InvalidInput

ALG = "RS256"
KEK_FILE = "key-encryption-secret"
_PUBLIC_MEMBERS = ("kty", "n", "e")


class KeyError_(DomainError):
    code = "key_error"


class KeyEncryptor:
    """AES-256-GCM with a key derived (HKDF-SHA256) from the key-encryption secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise InvalidInput("The key-encryption secret must be at least 32 characters.")
        derived = HKDF(hashes.SHA256(), 32, salt=None, info=b"authserver signing-key wrap v1").derive(
            secret.encode("utf-8")
        )
        self._aead = AESGCM(derived)

    def encrypt(self, plaintext: bytes, kid: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, kid.encode("ascii"))
        return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, kid: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(token.removeprefix("v1:"))
            return self._aead.decrypt(raw[:12], raw[12:], kid.encode("ascii"))
        except (InvalidTag, ValueError):
            raise KeyError_(f"cannot decrypt signing key {kid}: wrong key-encryption secret?") from None


def load_key_encryption_secret(explicit: str | None, keys_dir: Path) -> str:
    """The configured secret, or in dev mode a random one kept in keys_dir with mode 0600.

    keys_dir is kept owner-only (0700) too, also when it already existed (a fresh clone has it at
    the umask's 0755)."""
    if explicit:
        return explicit
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(keys_dir.stat().st_mode) & 0o077:
        keys_dir.chmod(0o700)
    path = keys_dir / KEK_FILE
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # Someone else may have read it already: say so rather than quietly tighten it.
            raise KeyError_(
                f"{path} is readable by other users (mode {mode:o}); `chmod 600 {path}` and consider "
                "`authserver keys rewrap` if it may have leaked"
            )
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def write_key_encryption_secret(keys_dir: Path, secret: str) -> Path:
    path = keys_dir / KEK_FILE
    tmp = keys_dir / (KEK_FILE + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.replace(tmp, path)
    return path


def _new_key_row(encryptor: KeyEncryptor, bits: int, state: str) -> SigningKey:
    key = RSAKey.generate_key(bits, private=True)
    kid = key.thumbprint()  # RFC 7638; never reused since keys are never regenerated
    public = {k: v for k, v in key.as_dict(private=False).items() if k in _PUBLIC_MEMBERS}
    public |= {"kid": kid, "use": "sig", "alg": ALG}
    pem = key.as_pem(private=True)
    now = utcnow()
    return SigningKey(
        kid=kid,
        state=state,
        alg=ALG,
        public_jwk=public,
        private_key_encrypted=encryptor.encrypt(pem, kid),
        created_at=now,
        activated_at=now if state == "current" else None,
    )


async def ensure_keys(session: AsyncSession, encryptor: KeyEncryptor, bits: int) -> bool:
    """First run: create a current and a next key. Returns True if it created them.

    Two workers starting at once may both try; the partial unique index lets one win.
    """
    existing = await session.scalar(select(SigningKey.kid).where(SigningKey.state == "current"))
    if existing is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(_new_key_row(encryptor, bits, "current"))
            session.add(_new_key_row(encryptor, bits, "next"))
            await session.flush()
    except IntegrityError:
        return False
    await audit.record(session, "keys.created")
    return True


async def rotate(
    session: AsyncSession,
    encryptor: KeyEncryptor,
    bits: int,
    *,
    min_next_age: timedelta,
    force: bool = False,
) -> SigningKey:
    """next -> current, current -> retired, new next. One conditional UPDATE picks one winner."""
    now = utcnow()
    rows = {
        k.state: k
        for k in await session.scalars(select(SigningKey).where(SigningKey.state.in_(("current", "next"))))
    }
    current, nxt = rows.get("current"), rows.get("next")
    if current is None or nxt is None:
        raise KeyError_("no current and next key: run `authserver serve` or `keys rotate` after setup")
    waited = now - nxt.created_at
    if not force and waited < min_next_age:
        left = int((min_next_age - waited).total_seconds()) + 1
        raise KeyError_(
            f"the next key has been published for {int(waited.total_seconds())}s; JWKS caches may "
            f"not have it yet. Wait {left}s or use --force"
        )
    retired = await session.execute(
        update(SigningKey)
        .where(SigningKey.kid == current.kid, SigningKey.state == "current")
        .values(state="retired", retired_at=now)
    )
    if affected(retired) != 1:
        raise KeyError_("another rotation is in progress; try again")
    await session.execute(
        update(SigningKey)
        .where(SigningKey.kid == nxt.kid, SigningKey.state == "next")
        .values(state="current", activated_at=now)
    )
    session.add(_new_key_row(encryptor, bits, "next"))
    await session.flush()
    await audit.record(session, "keys.rotated", kid=nxt.kid, retired_kid=current.kid)
    nxt.state, nxt.activated_at = "current", now
    return nxt


async def count_keys(session: AsyncSession) -> int:
    return len((await session.scalars(select(SigningKey.kid))).all())


async def list_keys(session: AsyncSession) -> Sequence[SigningKey]:
    return (await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all()


async def prune(session: AsyncSession, *, keep_for: timedelta) -> list[str]:
    """Delete retired keys whose every token has expired (retired longer than `keep_for`)."""
    cutoff = utcnow() - keep_for
    kids = list(
        await session.scalars(
            select(SigningKey.kid).where(SigningKey.state == "retired", SigningKey.retired_at < cutoff)
        )
    )
    if kids:
        await session.execute(delete(SigningKey).where(SigningKey.kid.in_(kids)))
        await audit.record(session, "keys.pruned", kids=kids)
    return kids


async def rewrap(session: AsyncSession, old: KeyEncryptor, new: KeyEncryptor) -> int:
    """Re-encrypt every private key under a new secret, in the caller's one transaction."""
    count = 0
    for row in await session.scalars(select(SigningKey)):
        row.private_key_encrypted = new.encrypt(old.decrypt(row.private_key_encrypted, row.kid), row.kid)
        count += 1
    await session.flush()
    await audit.record(session, "keys.rewrapped", count=count)
    return count


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class PublishedKey:
    kid: str
    state: str
    public_jwk: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None


class KeyRing:
    """This process's view of the key set: a cache, refreshed from the database on an interval."""

    def __init__(self, encryptor: KeyEncryptor, refresh_interval: float) -> None:
        self._encryptor = encryptor
        self._interval = refresh_interval
        self._loaded_at = float("-inf")
        self._published: list[PublishedKey] = []
        self._current_kid: str | None = None
        self._signers: dict[str, RSAKey] = {}
        self._verifiers: dict[str, RSAKey] = {}
        self.jwks_body = b'{"keys":[]}'
        self.jwks_etag = _etag(self.jwks_body)

    def is_stale(self) -> bool:
        return self.age() >= self._interval

    def age(self) -> float:
        """Seconds since the ring was last read from the database."""
        return time.monotonic() - self._loaded_at

    def current_kid_or_none(self) -> str | None:
        return self._current_kid

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> None:
        if not force and not self.is_stale():
            return
        rows = (
            await session.execute(
                select(
                    SigningKey.kid,
                    SigningKey.state,
                    SigningKey.public_jwk,
                    SigningKey.created_at,
                    SigningKey.activated_at,
                ).order_by(SigningKey.created_at.desc())
            )
        ).all()
        published = [
            PublishedKey(r.kid, r.state, dict(r.public_jwk), r.created_at, r.activated_at) for r in rows
        ]
        current = next((k.kid for k in published if k.state == "current"), None)
        if current is not None and current not in self._signers:
            encrypted = await session.scalar(
                select(SigningKey.private_key_encrypted).where(SigningKey.kid == current)
            )
            if encrypted is not None:
                pem = self._encryptor.decrypt(encrypted, current)
                self._signers = {current: RSAKey.import_key(pem)}
        live = {k.kid for k in published}
        self._verifiers = {kid: v for kid, v in self._verifiers.items() if kid in live}
        if [k.public_jwk for k in published] != [k.public_jwk for k in self._published]:
            # The JWKS document is built once per key-set change, not per request.
            self.jwks_body = json.dumps(
                {"keys": [k.public_jwk for k in published]}, separators=(",", ":")
            ).encode()
            self.jwks_etag = _etag(self.jwks_body)
        self._published, self._current_kid = published, current
        self._loaded_at = time.monotonic()

    @property
    def current_kid(self) -> str:
        if self._current_kid is None:
            raise KeyError_("no current signing key")
        return self._current_kid

    def signer(self) -> tuple[str, rsa.RSAPrivateKey]:
        """The current kid and its private key object (parsed once per kid)."""
        kid = self.current_kid
        key = self._signers[kid].private_key
        assert isinstance(key, rsa.RSAPrivateKey)
        return kid, key

    def verifier(self, kid: str) -> RSAKey | None:
        """The public key for `kid` if it is published (next, current or retired)."""
        key = self._verifiers.get(kid)
        if key is None:
            jwk = next((k.public_jwk for k in self._published if k.kid == kid), None)
            if jwk is None:
                return None
            key = RSAKey.import_key(jwk)
            self._verifiers[kid] = key
        return key

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The `cryptography` public key for `kid` if it is published, else None."""
        key = self.verifier(kid)
        if key is None:
            return None
        public = key.public_key
        return public if isinstance(public, rsa.RSAPublicKey) else None

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """J8: public members only; J9: next and retired keys stay published."""
        return {"keys": [dict(k.public_jwk) for k in self._published]}

    def published(self) -> list[PublishedKey]:
        return list(self._published)
