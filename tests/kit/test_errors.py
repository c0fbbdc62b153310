"""RFC 6750 §3 challenges: exact syntax, quoting, and no way for a description to break out."""

from __future__ import annotations

import pytest

from authserver_resource import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    IssuerUnavailable,
    TokenMissing,
)
from authserver_resource.errors import is_scope_token, quote_realm


def test_missing_token_challenge_has_no_error_code() -> None:
    # RFC 6750 §3.1: "the resource server SHOULD NOT include an error code or other error information".
    error = TokenMissing()
    assert error.status == 401
    assert error.challenge("orders") == 'Bearer realm="orders"'
    assert error.challenge() == "Bearer"
    assert "error" not in error.body()


def test_invalid_token_challenge() -> None:
    error = InvalidToken("The access token expired.", detail="exp 123")
    assert error.status == 401
    assert error.challenge("orders") == (
        'Bearer realm="orders", error="invalid_token", error_description="The access token expired."'
    )
    assert error.body() == {"error": "invalid_token", "error_description": "The access token expired."}
    assert error.headers("orders")["Cache-Control"] == "no-store"


def test_insufficient_scope_names_the_required_scopes() -> None:
    error = InsufficientScope(("orders:read", "orders:write"))
    assert error.status == 403
    assert error.challenge() == (
        'Bearer error="insufficient_scope", '
        'error_description="The access token does not grant the scope this resource needs.", '
        'scope="orders:read orders:write"'
    )


def test_invalid_request_is_400() -> None:
    error = InvalidRequest("The Authorization header is not a valid Bearer credential.")
    assert error.status == 400 and error.challenge().startswith('Bearer error="invalid_request"')  # type: ignore[union-attr]


def test_description_cannot_break_out_of_its_quoted_string() -> None:
    # RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
    error = InvalidToken('bad "token"\\\r\nSet-Cookie: x=1 é')
    assert error.description == "bad tokenSet-Cookie: x=1 "
    header = error.challenge("r")
    assert header is not None and "\r" not in header and "\n" not in header and header.count('"') == 6


def test_realm_is_quoted_and_control_characters_refused() -> None:
    assert quote_realm('my "api"') == '"my \\"api\\""'
    assert quote_realm("a\\b") == '"a\\\\b"'
    with pytest.raises(ValueError):
        quote_realm("a\r\nb")


def test_scope_token_syntax() -> None:
    assert is_scope_token("orders:read") and is_scope_token("https://api.example.com/x")
    for bad in ("", "a b", 'a"b', "a\\b", "é"):
        assert not is_scope_token(bad)


def test_unavailable_is_503_without_challenge() -> None:
    error = IssuerUnavailable("The token issuer cannot be reached.")
    assert error.status == 503 and error.challenge("r") is None
    assert error.headers("r") == {"Cache-Control": "no-store", "Retry-After": "5"}
    assert error.body()["error"] == "temporarily_unavailable"
