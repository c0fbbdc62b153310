"""The whole sign-in in real headless Chromium against a real `authserver serve` (issue 9, done-when).

Sign up on the page, consent, come back to the client with a code, exchange it, validate the ID
token against the JWKS with PyJWT, call userinfo, refresh, log out through the end-session
endpoint. Screenshots of the login, signup, consent and account pages at desktop (1280 px) and
phone (375 px) width go to a folder the test prints. Debian's chromium + chromium-driver only (no
browser download); under CI=true a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt as pyjwt
import pytest

from authserver.context import AppContext
from authserver.domain import clients
from tests import backends
from tests.oauth.helpers import pkce_pair
from tests.pages.helpers import query
from tests.servers import free_port, running_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": (1280, 900), "phone": (375, 812)}


def _browser_or_fail() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = f"headless browser missing: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if backends.IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    _browser_or_fail()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>client</title><p>back at the client</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def client_site() -> Iterator[str]:
    """A tiny redirect target standing in for the relying party (http://127.0.0.1:PORT)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def shoot(browser: Any, folder: Path, name: str) -> None:
    for label, (width, height) in WIDTHS.items():
        browser.set_window_size(width, height)
        browser.save_screenshot(str(folder / f"{name}-{label}.png"))
    browser.set_window_size(*WIDTHS["desktop"])


def fill(browser: Any, **fields: str) -> None:
    from selenium.webdriver.common.by import By

    for name, value in fields.items():
        element = browser.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def click(browser: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, css).click()


def wait_for_url(browser: Any, prefix: str) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(lambda b: b.current_url.startswith(prefix))
    return str(browser.current_url)


async def test_sign_up_consent_code_tokens_userinfo_refresh_logout(
    ctx: AppContext, tmp_path: Path, driver: Any, client_site: str, backend: str
) -> None:
    shots = Path(os.environ.get("AUTHSERVER_SCREENSHOTS", tmp_path / "screenshots")) / backend
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    async with ctx.transaction() as session:
        registered = await clients.create_client(
            session,
            name="Photo Sharing App",
            grant_types=("authorization_code", "refresh_token"),
            # A loopback redirect URI: any port matches at /authorize (RFC 8252 §7.3).
            redirect_uris=("http://127.0.0.1/cb",),
            scopes="openid profile email offline_access",
            post_logout_redirect_uris=(f"{client_site}/bye",),
        )
    client_id, secret = registered.client.client_id, registered.secret
    assert secret is not None
    callback = f"{client_site}/cb"
    verifier, challenge = pkce_pair()

    with running_server(ctx.settings.database_url, tmp_path) as base:
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": callback,
            "scope": "openid profile email offline_access",
            "state": "e2e-state",
            "nonce": "e2e-nonce",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        driver.set_window_size(*WIDTHS["desktop"])
        driver.get(f"{base}/authorize?{urlencode(params)}")
        wait_for_url(driver, f"{base}/login")
        assert "Photo Sharing App" in driver.page_source
        shoot(driver, shots, "login")

        click(driver, 'p.alt a[href^="/register"]')  # "Create an account"
        wait_for_url(driver, f"{base}/register")
        shoot(driver, shots, "signup")
        fill(driver, email="grace@example.com", username="grace", password="a compiler in every drawer")
        click(driver, "form.stack button[type=submit]")

        wait_for_url(driver, f"{base}/consent")
        assert "See your email address" in driver.page_source
        shoot(driver, shots, "consent")
        click(driver, "button[value=allow]")

        returned = query(wait_for_url(driver, callback))
        assert returned["state"] == "e2e-state" and returned["iss"] == base

        async with httpx.AsyncClient(base_url=base) as http:
            exchanged = await http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": returned["code"],
                    "redirect_uri": callback,
                    "code_verifier": verifier,
                },
                auth=(client_id, secret),
            )
            assert exchanged.status_code == 200, exchanged.text
            tokens = exchanged.json()
            metadata = (await http.get("/.well-known/openid-configuration")).json()

            jwks = pyjwt.PyJWKClient(metadata["jwks_uri"])
            key = jwks.get_signing_key_from_jwt(tokens["id_token"])
            id_claims = pyjwt.decode(
                tokens["id_token"],
                key.key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=base,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "auth_time"]},
            )
            assert id_claims["nonce"] == "e2e-nonce" and id_claims["email"] == "grace@example.com"
            assert id_claims["email_verified"] is False and id_claims["sid"]

            info = await http.get(
                metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert info.status_code == 200, info.text
            assert info.json()["sub"] == id_claims["sub"] and info.json()["preferred_username"] == "grace"

            refreshed = await http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=(client_id, secret),
            )
            assert refreshed.status_code == 200, refreshed.text
            assert (
                pyjwt.decode(
                    refreshed.json()["id_token"],
                    key.key,
                    algorithms=["RS256"],
                    audience=client_id,
                    issuer=base,
                )["auth_time"]
                == id_claims["auth_time"]
            )

        driver.get(f"{base}/account")
        assert "Photo Sharing App" in driver.page_source and "grace@example.com" in driver.page_source
        shoot(driver, shots, "account")

        logout = {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": f"{client_site}/bye",
            "state": "bye-state",
        }
        driver.get(f"{base}{metadata['end_session_endpoint'].removeprefix(base)}?{urlencode(logout)}")
        assert "Photo Sharing App" in driver.page_source
        click(driver, "form.actions button.primary")
        assert query(wait_for_url(driver, f"{client_site}/bye"))["state"] == "bye-state"

        driver.get(f"{base}/account")  # the session is gone: back to the login page
        wait_for_url(driver, f"{base}/login")
