"""The principal handed to handlers: read-only claims, exact scope matching, claim lookups."""

from __future__ import annotations

import pytest

from authserver_resource import Principal
from authserver_resource.principal import lookup, string_set


def make(**claims: object) -> Principal:
    return Principal(
        subject="u",
        issuer="https://issuer.example",
        client_id="c",
        scopes=frozenset({"orders:read", "profile"}),
        roles=frozenset(),
        claims=claims,
    )


def test_claims_are_read_only_and_detached_from_the_source() -> None:
    source = {"sub": "u", "email": "ada@example.com"}
    principal = make(**source)
    source["email"] = "mallory@example.com"
    assert principal.claims["email"] == "ada@example.com"
    with pytest.raises(TypeError):
        principal.claims["sub"] = "admin"  # type: ignore[index]
    assert "ada@example.com" not in repr(principal)  # claims stay out of logs by repr


def test_scopes_match_exactly() -> None:
    principal = make()
    assert principal.has_scopes() and principal.has_scopes("orders:read", "profile")
    assert not principal.has_scopes("orders")  # no prefix matching
    assert not principal.has_scopes("ORDERS:READ")
    assert principal.missing_scopes("orders:write", "profile", "admin") == ("orders:write", "admin")


def test_lookup_follows_dotted_paths() -> None:
    claims = {"realm_access": {"roles": ["a"]}, "scope": "x y", "flat": 1}
    assert lookup(claims, "realm_access.roles") == ["a"]
    assert lookup(claims, "realm_access.missing") is None
    assert lookup(claims, "flat.deeper") is None
    assert lookup(claims, None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a b  c", {"a", "b", "c"}),
        (["a", "b", 3, "", None], {"a", "b"}),
        ("", set()),
        (None, set()),
        ({"a": True}, set()),
        (7, set()),
    ],
)
def test_string_set(value: object, expected: set[str]) -> None:
    assert string_set(value) == expected
