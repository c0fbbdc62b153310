"""L6 for the protocol half: `authorize()` answers every odd input and never raises (issue 8)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from authserver.context import AppContext
from authserver.oauth.authorize import authorize
from authserver.oauth.redirect_uris import matches, with_query
from tests.oauth.helpers import REDIRECT, make_client, make_user, pkce_pair

ODD = ['"', "\\", "é", "\u202e", "\x00", "\r\n", "\ud800", "%00", "<script>", " " * 5000, "😀"]


async def test_L6_odd_characters_in_any_parameter_never_raise(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("authorization_code",), scope="openid read")
    user = await make_user(ctx)
    await ctx.ensure_keys()  # the app's lifespan makes them; id_token_hint needs them here
    base = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    for name in [*base, "nonce", "prompt", "max_age", "resource", "id_token_hint", "login_hint"]:
        for odd in ODD:
            for value in (odd, (base.get(name) or "") + odd):
                result = await authorize(ctx, base | {name: value}, user)  # never raises
                if result.location is None:
                    assert result.error is not None and result.status == 400
                    continue
                # Only ever our registered URI; the state comes back byte for byte when it does.
                assert result.location.startswith(REDIRECT + "?")
                answer = parse_qs(urlsplit(result.location).query, keep_blank_values=True)
                if result.error is None:
                    assert answer["state"] == [base["state"] if name != "state" else value], (name, value)
                else:  # never the offending value in the description
                    description = answer["error_description"][0]
                    assert description.isascii() and (not odd.strip() or odd.strip() not in description)


def test_redirect_uri_matching_rules() -> None:
    registered = ["https://app.example.com/cb", "http://127.0.0.1/cb", "http://[::1]:9000/cb?x=1"]
    assert matches("https://app.example.com/cb", registered)
    assert matches("http://127.0.0.1:1/cb", registered) and matches("http://127.0.0.1:65535/cb", registered)
    assert matches("http://[::1]/cb?x=1", registered) and matches("http://[::1]:1234/cb?x=1", registered)
    for refused in (
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:80a/cb",
        "http://127.0.0.1:8080/cb#x",
        "http://[::1]:1234/cb?x=2",
        "https://app.example.com/cb/",
        "https://app.example.com:443/cb",
    ):
        assert not matches(refused, registered), refused
    assert (
        with_query("https://a.example/cb?x=1", {"code": "c", "state": None})
        == "https://a.example/cb?x=1&code=c"
    )
    assert with_query("https://a.example/cb", {"state": "a b&c"}) == "https://a.example/cb?state=a+b%26c"
