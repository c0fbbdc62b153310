"""The authorization code flow with PKCE as a whole sequence, driven like browsers without JavaScript.

wrk repeats one request, or (refresh.lua) a chain of interchangeable tokens; a code flow is a
sequence of dependent requests that carries cookies and reads form fields from each page, so it has
a driver of its own: N asyncio "browsers" in this process (httpx, keep-alive like a browser), each
running the sequence again and again for the run's duration. A sequence is timed from its first
request to the token response, and it counts only if it ends in a 200 with an ID token.

Two variants, because they cost very different things:
- signing in each time: a fresh cookie jar per sequence, so GET /authorize, the login page, POST
  /login (argon2id: the bound, by design), the consent page when asked, the redirect with the code,
  POST /token. Run at few connections, like the password grant.
- signed-in browser: the browser kept its session and the user's consent is remembered, so GET
  /authorize answers at once with the code, then POST /token: the machinery of the flow itself.

The driver runs on the same cores as the server; its own CPU is reported beside the server's, since
httpx costs more per request than wrk does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from benchmarks import procstat
from benchmarks.workloads import CheckFailed, Measurement, check_rs256_jwt

SIGN_IN_EACH_TIME = "code_flow_sign_in"
SIGNED_IN = "code_flow_signed_in"
REDIRECT_URI = "https://app.example/callback"  # never fetched: the driver reads the Location header
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@dataclass(frozen=True)
class FlowClient:
    base: str
    client_id: str
    secret: str
    username: str
    password: str


class SequenceFailed(Exception):
    """One sequence did not end in tokens: the step and the status, never a credential."""


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}


def _location(answer: httpx.Response, step: str) -> str:
    if answer.status_code not in (302, 303):
        raise SequenceFailed(f"{step}: HTTP {answer.status_code}")
    return answer.headers["location"]


async def sequence(http: httpx.AsyncClient, flow: FlowClient) -> dict[str, object]:
    """One authorization request up to its token response; the token response's JSON."""
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": flow.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid read",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    location = _location(await http.get(f"{flow.base}/authorize", params=params), "authorize")
    for _ in range(6):  # login, consent: whichever the server asks for, in its order
        if location.startswith(REDIRECT_URI):
            break
        page = await http.get(flow.base + location)
        if page.status_code != 200:
            raise SequenceFailed(f"{urlsplit(location).path}: HTTP {page.status_code}")
        form = _hidden_fields(page)
        if location.startswith("/login"):
            form |= {"username": flow.username, "password": flow.password}
            location = _location(await http.post(f"{flow.base}/login", data=form), "login")
        elif location.startswith("/consent"):
            form |= {"decision": "allow"}
            location = _location(await http.post(f"{flow.base}/consent", data=form), "consent")
        else:
            raise SequenceFailed(f"unexpected redirect to {urlsplit(location).path}")
    answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if answer.get("state") != state or "code" not in answer:
        raise SequenceFailed(f"redirect without code or with another state: {sorted(answer)}")
    tokens = await http.post(
        f"{flow.base}/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(flow.client_id, flow.secret),
    )
    if tokens.status_code != 200:
        raise SequenceFailed(f"token: HTTP {tokens.status_code}")
    body = tokens.json()
    if not isinstance(body, dict) or "id_token" not in body:
        raise SequenceFailed("token: no ID token")
    return body


def _browser() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1))


def check(flow: FlowClient, jwks: httpx.Response) -> str:
    """One sequence of each kind, with the tokens verified against the JWKS: what was seen."""
    from joserfc.jwk import KeySet

    async def both() -> tuple[dict[str, object], dict[str, object]]:
        async with _browser() as http:
            first = await sequence(http, flow)
            again = await sequence(http, flow)  # signed in now: no login page this time
            return first, again

    try:
        first, again = asyncio.run(both())
    except (SequenceFailed, httpx.HTTPError) as failure:
        raise CheckFailed(f"the code flow failed: {failure}") from failure
    keys = KeySet.import_key_set(jwks.json())
    for body in (first, again):
        check_rs256_jwt(str(body["id_token"]), keys)
    return check_rs256_jwt(str(again["access_token"]), keys) + ", and an RS256 ID token"


async def _drive(
    flow: FlowClient, variant: str, browsers: list[httpx.AsyncClient], duration_s: float
) -> tuple[list[float], Counter[str]]:
    """Every browser runs sequences until the deadline: the durations (s) and why any failed."""
    durations: list[float] = []
    failures: Counter[str] = Counter()
    deadline = time.monotonic() + duration_s

    async def run(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            if variant == SIGN_IN_EACH_TIME:
                http.cookies.clear()
            started = time.monotonic()
            try:
                await sequence(http, flow)
            except SequenceFailed as failed:
                failures[str(failed)] += 1
                continue
            except httpx.HTTPError as error:
                failures[type(error).__name__] += 1
                continue
            durations.append(time.monotonic() - started)

    await asyncio.gather(*(run(http) for http in browsers))
    return durations, failures


async def _sign_in(flow: FlowClient, browsers: list[httpx.AsyncClient]) -> None:
    """Sign every browser in before the clock, a few at a time: 256 simultaneous attempts on one
    account from one address is what the brute-force throttle exists to stop."""
    gate = asyncio.Semaphore(4)

    async def one(http: httpx.AsyncClient) -> None:
        async with gate:
            await sequence(http, flow)

    await asyncio.gather(*(one(http) for http in browsers))


async def _measure(
    flow: FlowClient, pid: int, variant: str, connections: int, duration_s: float, warmup_s: float
) -> tuple[list[float], Counter[str], float, float, procstat.Monitor]:
    browsers = [_browser() for _ in range(connections)]
    try:
        if variant == SIGNED_IN:
            await _sign_in(flow, browsers)
        if warmup_s:
            await _drive(flow, variant, browsers, warmup_s)
        driver_cpu = time.process_time()
        started = time.monotonic()
        with procstat.Monitor(pid) as monitor:
            durations, failures = await _drive(flow, variant, browsers, duration_s)
        elapsed = time.monotonic() - started
        return durations, failures, elapsed, time.process_time() - driver_cpu, monitor
    finally:
        for http in browsers:
            await http.aclose()


def measure(
    flow: FlowClient, pid: int, variant: str, connections: int, duration_s: float, warmup_s: float
) -> tuple[Measurement, float, Counter[str]]:
    """sequences/s, p50/p99 per sequence, server CPU and RSS; the driver's own CPU %; why
    sequences failed."""
    durations, failures, elapsed, driver_cpu_s, monitor = asyncio.run(
        _measure(flow, pid, variant, connections, duration_s, warmup_s)
    )
    driver_percent = driver_cpu_s * 100 / elapsed
    ordered = sorted(durations)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    measured = Measurement(
        server="authserver",
        workload=variant,
        connections=connections,
        rps=len(durations) / elapsed,
        p50_ms=statistics.median(ordered) * 1000 if ordered else 0.0,
        p99_ms=p99 * 1000,
        errors=sum(failures.values()),
        requests=len(durations),
        cpu_percent=monitor.cpu_percent,
        rss_mib=monitor.rss_mib,
        runs=[len(durations) / elapsed],
    )
    return measured, driver_percent, failures
