"""PKCE (RFC 7636), stricter than Authlib's default: S256 only, required for every client.

Authlib accepts `plain`, treats a missing method as `plain`, requires a challenge only of public
clients at redemption, and answers a missing or downgraded verifier with `invalid_request`. We follow
RFC 9700 §2.1.1 / §4.8.2 and the checklist (P1-P6) instead.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge, create_s256_code_challenge

CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest, no padding
VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge:
            raise InvalidRequestError("PKCE is required: send code_challenge with method S256.")
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        if not CHALLENGE_RE.fullmatch(challenge):
            raise InvalidRequestError("code_challenge must be 43 base64url characters.")

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        code = grant.request.authorization_code
        verify_code_verifier(code.code_challenge, grant.request.form.get("code_verifier"))


def verify_code_verifier(challenge: str | None, verifier: str | None) -> None:
    """RFC 7636 §4.6 at the token endpoint (P4-P6)."""
    if not challenge:
        # A code issued without a challenge cannot be redeemed at all here (P6: no downgrade).
        raise InvalidGrantError("The code was issued without PKCE.")
    if not verifier or not VERIFIER_RE.fullmatch(verifier):
        raise InvalidGrantError("code_verifier is missing or malformed.")
    expected = create_s256_code_challenge(verifier)
    if not hmac.compare_digest(expected.encode("ascii"), challenge.encode("ascii")):
        raise InvalidGrantError("code_verifier does not match the code_challenge.")
