"""private_key_jwt client authentication (RFC 7523 §2.2, §3; OIDC Core §9; checklist T12).

Authlib's `JWTBearerClientAssertion` does the parsing and claim checks; we add what it leaves to us:
the audience (our issuer or token endpoint), the client's registered public keys, asymmetric
algorithms only (no HS256 made with a public key), a bounded `exp`, and a replay check that stores
each `jti` until the assertion expires.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authserver.domain.clients import PRIVATE_KEY_JWT
from authserver.oauth.store import OAuthStore

METHOD = PRIVATE_KEY_JWT
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
MAX_LIFETIME = 3600  # an assertion valid longer than this is refused: it bounds the jti table


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = METHOD

    def __init__(self, store: OAuthStore) -> None:
        super().__init__(validate_jti=True, leeway=60)
        self.store = store

    def get_audiences(self) -> list[str]:
        issuer = self.store.settings.issuer
        return [issuer, issuer + "/token"]

    def resolve_client_public_key(self, client: Any) -> KeySet:
        if not client.row.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        return KeySet.import_key_set(client.row.jwks)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion is not valid.") from exc
        claims = dict(token.claims)
        exp = claims.get("exp")
        if isinstance(exp, int) and exp > time.time() + MAX_LIFETIME:
            raise InvalidClientError(description="The client assertion lives too long.")
        self.verify_claims(token.claims)
        return claims

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti:
            return False
        expires = datetime.fromtimestamp(int(claims["exp"]) + 60, UTC)
        return self.store.record_assertion_jti(str(claims["sub"]), jti, expires)
