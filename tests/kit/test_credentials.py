"""Where the credential comes from: RFC 6750 §2.1 header syntax and Better Auth cookies."""

from __future__ import annotations

import pytest

from authserver_resource import BetterAuth, InvalidRequest
from authserver_resource.credentials import Credential, bearer_token, find_credential

BA = BetterAuth("https://app.example.com")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def-_~+/", "abc.def-_~+/"),
        ("bearer abc==", "abc=="),
        ("BEARER  abc", "abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Digest x", None),
    ],
)
def test_bearer_header_parsed(header: str, token: str | None) -> None:
    assert bearer_token([header]) == token


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer a=b",
        'Bearer "abc"',
        "Bearer abc%2F",
        "Bearer é",
        "Bearer a,b",
    ],
)
def test_malformed_bearer_header_is_invalid_request(header: str) -> None:
    with pytest.raises(InvalidRequest):
        bearer_token([header])


def test_two_authorization_headers_are_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        bearer_token(["Bearer a", "Bearer b"])


def find(
    authorization: tuple[str, ...] = (),
    cookies: dict[str, str] | None = None,
    method: str = "GET",
    origin: str | None = None,
    better_auth: BetterAuth | None = BA,
) -> Credential | None:
    return find_credential(
        authorization=authorization,
        cookies=cookies or {},
        method=method,
        origin=origin,
        better_auth=better_auth,
    )


def test_header_wins_over_cookie() -> None:
    found = find(("Bearer a.b.c",), {"better-auth.session_token": "s.sig"})
    assert found == Credential("a.b.c")


def test_better_auth_cookies_found_by_both_names() -> None:
    assert find(cookies={"better-auth.session_token": "s.sig"}) == Credential(
        "s.sig", cookie_name="better-auth.session_token"
    )
    assert find(cookies={"__Secure-better-auth.session_token": "t"}) == Credential(
        "t", cookie_name="__Secure-better-auth.session_token"
    )
    assert find(cookies={"other": "x"}) is None
    assert find(cookies={"better-auth.session_token": "s"}, better_auth=None) is None
    no_sessions = BetterAuth("https://app.example.com", sessions=False)
    assert find(cookies={"better-auth.session_token": "s"}, better_auth=no_sessions) is None


def test_cookie_on_unsafe_method_needs_a_trusted_origin() -> None:
    cookies = {"better-auth.session_token": "s"}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for origin in (None, "https://evil.example", "null", "https://app.example.com.evil.example"):
            with pytest.raises(InvalidRequest):
                find(cookies=cookies, method=method, origin=origin)
        assert find(cookies=cookies, method=method, origin="https://app.example.com") is not None
    assert find(cookies=cookies, method="GET", origin="https://evil.example") is not None
    # Bearer tokens are not sent by browsers on their own: no Origin rule.
    assert find(("Bearer a.b.c",), method="POST", origin="https://evil.example") is not None
