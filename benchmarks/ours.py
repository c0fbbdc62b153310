"""authserver under test: real `authserver serve --workers N` processes set up only through its CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks import code_flow, database
from benchmarks.target import Call, Target, free_port, stop, wait_until_ready

PASSWORD = "benchmark passphrase 2026"
USERNAME = "loadtest"
SCOPE = "read"


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str

    @property
    def basic(self) -> tuple[str, str]:
        return self.client_id, self.secret


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run `authserver ARGS` as an operator would, failing loudly."""
    done = subprocess.run(
        [sys.executable, "-m", "authserver", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"authserver {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def create_client(env: dict[str, str], name: str, *options: str) -> Client:
    made = json.loads(cli(env, "clients", "create", "--name", name, *options, "--json"))
    return Client(made["client_id"], made["client_secret"])


class AuthServer(Target):
    label = "authserver"

    def __init__(self, base: str, pid: int, db: database.Database, clients: dict[str, Client]) -> None:
        self.base = base
        self.pid = pid
        self.db = db
        self.clients = clients

    def call(self, workload: str) -> Call | None:
        m2m, rs, app = self.clients["m2m"], self.clients["rs"], self.clients["app"]
        if workload == "client_credentials":
            return Call(
                "POST", f"{self.base}/token", {"grant_type": "client_credentials", "scope": SCOPE}, m2m.basic
            )
        if workload == "introspection":
            return Call("POST", f"{self.base}/introspect", {"token": self._access_token()}, rs.basic)
        if workload == "jwks":
            return Call("GET", f"{self.base}/.well-known/jwks.json")
        if workload == "discovery":
            return Call("GET", f"{self.base}/.well-known/openid-configuration")
        if workload == "refresh":
            return Call("POST", f"{self.base}/token", {"grant_type": "refresh_token"}, app.basic)
        if workload == "password":
            return Call(
                "POST",
                f"{self.base}/token",
                {"grant_type": "password", "username": USERNAME, "password": PASSWORD},
                app.basic,
            )
        return None

    def flow_client(self) -> code_flow.FlowClient:
        web = self.clients["web"]
        return code_flow.FlowClient(self.base, web.client_id, web.secret, USERNAME, PASSWORD)

    def _access_token(self) -> str:
        """A valid RS256 JWT access token of the client_credentials client, for introspection."""
        call = self.call("client_credentials")
        assert call is not None
        with httpx.Client(timeout=30) as http:
            answer = call.send(http)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    @property
    def refresh_client(self) -> tuple[str, str]:
        return self.clients["app"].basic

    def refresh_chains(self, count: int) -> list[str]:
        """Families cloned from the latest real password-grant family (see database.py for why)."""
        return database.clone_refresh_chains(self.db.url, self.clients["app"].client_id, count)

    def first_refresh_token(self) -> str:
        """One real password grant: the template family for the clones, and proof the path works."""
        call = self.call("password")
        assert call is not None
        with httpx.Client(timeout=120) as http:
            answer = call.send(http)
        answer.raise_for_status()
        return str(answer.json()["refresh_token"])


def server_env(db: database.Database, base: str, workdir: Path) -> dict[str, str]:
    """The process environment: ours, with any AUTHSERVER_* of the caller's shell left out."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    return (
        inherited
        | {
            "AUTHSERVER_DATABASE_URL": db.url,
            "AUTHSERVER_ISSUER": base,
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_LOG_LEVEL": "WARNING",
        }
        | RATE_LIMITS_ABOVE_THE_LOAD
    )


# The rate limits stay on, so the figures include what counting costs, with ceilings no
# benchmark from one address reaches (their defaults are for real clients, not for one load
# generator on 127.0.0.1).
RATE_LIMITS_ABOVE_THE_LOAD = {
    f"AUTHSERVER_RATE_LIMIT_{name}": "100000000/minute"
    for name in ("TOKEN_PER_IP", "INTROSPECT_PER_IP", "REVOKE_PER_IP", "SIGNIN_PER_IP", "AUTHORIZE_PER_IP")
} | {
    # One account signs in all the time, from one address, up to 16 attempts at once (password
    # grant, code flow): the brute-force throttle's per-pair delays would otherwise be what is timed.
    "AUTHSERVER_SIGNIN_ACCOUNT_CEILING": "10000",
    "AUTHSERVER_SIGNIN_FREE_ATTEMPTS": "99",
    "AUTHSERVER_SIGNIN_LOCK_AFTER": "100",
}


def register(env: dict[str, str]) -> dict[str, Client]:
    """The clients and the user every workload uses, through the CLI."""
    clients = {
        "m2m": create_client(env, "bench-m2m", "--grant-type", "client_credentials", "--scope", SCOPE),
        # A resource server: only a client registered with --introspect may call /introspect.
        "rs": create_client(env, "bench-rs", "--grant-type", "client_credentials", "--introspect"),
        "app": create_client(
            env, "bench-app", "--grant-type", "password", "--grant-type", "refresh_token", "--scope", SCOPE
        ),
        "web": create_client(
            env,
            "bench-web",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            code_flow.REDIRECT_URI,
            "--scope",
            "openid " + SCOPE,
        ),
    }
    cli(
        env,
        "users",
        "create",
        "--email",
        "load@example.org",
        "--username",
        USERNAME,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    return clients


@contextmanager
def running(db: database.Database, workers: int, workdir: Path) -> Iterator[AuthServer]:
    """Migrate, register, serve; stop the server when done."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(db, base, workdir)
    cli(env, "db", "upgrade")
    clients = register(env)
    with (workdir / "authserver.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "authserver", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(f"{base}/readyz", process)
            yield AuthServer(base, process.pid, db, clients)
        finally:
            stop(process)
