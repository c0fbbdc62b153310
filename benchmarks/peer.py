"""The peer: node-oidc-provider (benchmarks/peer/server.js), one Node process, in-memory adapter.

Its version is pinned exactly in benchmarks/peer/package.json with a committed package-lock.json;
`npm ci` installs it when node_modules is missing. Workloads it has no equivalent for are n/a.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.target import Call, Target, free_port, stop, wait_until_ready

PEER_DIR = Path(__file__).with_name("peer")
RESOURCE = "urn:authserver-bench:api"
OPAQUE_RESOURCE = "urn:authserver-bench:opaque"
SCOPE = "read"

NOTES = {
    "introspection": "oidc-provider refuses to introspect JWTs (lib/shared/reject_structured_tokens.js: "
    "`unsupported_token_type`); its row introspects an opaque client_credentials token, "
    "its only introspectable kind of access token.",
    "refresh": "oidc-provider issues refresh tokens only from interactive grants; its chains are minted "
    "by its own Grant/RefreshToken models (server.js) and rotate on every use "
    "(rotateRefreshToken: true).",
    "password": "oidc-provider has no password grant.",
}


def version() -> str:
    installed = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    return str(json.loads(installed.read_text())["version"])


def install() -> None:
    """`npm ci` from the lock file when the pinned package is not installed yet."""
    if (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed for the peer (node-oidc-provider); install Node.js 20+")
    subprocess.run(["npm", "ci", "--prefix", str(PEER_DIR), "--no-audit", "--no-fund"], check=True)


def warnings(workdir: Path) -> list[str]:
    """What the peer warned about at start (such as the Node version it prefers), for the notes."""
    log = workdir / "peer.log"
    return [line for line in log.read_text().splitlines() if "WARNING" in line] if log.exists() else []


def _secret() -> str:
    return secrets.token_urlsafe(24)


class Peer(Target):
    label = "oidc-provider"

    def __init__(self, base: str, pid: int, secrets_by_client: dict[str, str]) -> None:
        self.base = base
        self.pid = pid
        self.secrets = secrets_by_client

    def _basic(self, client_id: str) -> tuple[str, str]:
        return client_id, self.secrets[client_id]

    def call(self, workload: str) -> Call | None:
        if workload == "client_credentials":
            return Call(
                "POST",
                f"{self.base}/token",
                {"grant_type": "client_credentials", "scope": SCOPE},
                self._basic("m2m"),
            )
        if workload == "introspection":
            return Call(
                "POST", f"{self.base}/token/introspection", {"token": self._opaque_token()}, self._basic("rs")
            )
        if workload == "jwks":
            return Call("GET", f"{self.base}/jwks")
        if workload == "discovery":
            return Call("GET", f"{self.base}/.well-known/openid-configuration")
        if workload == "refresh":
            return Call("POST", f"{self.base}/token", {"grant_type": "refresh_token"}, self._basic("app"))
        return None

    def note(self, workload: str) -> str | None:
        return NOTES.get(workload)

    def _opaque_token(self) -> str:
        form = {"grant_type": "client_credentials", "scope": SCOPE, "resource": OPAQUE_RESOURCE}
        answer = httpx.post(f"{self.base}/token", data=form, auth=self._basic("m2m"), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def jwt_introspection_answer(self) -> httpx.Response:
        """What the peer says when asked to introspect its own JWT access token (shown in the notes)."""
        call = self.call("client_credentials")
        assert call is not None
        token = httpx.post(call.url, data=call.form, auth=call.basic, timeout=30).json()["access_token"]
        return httpx.post(
            f"{self.base}/token/introspection", data={"token": token}, auth=self._basic("rs"), timeout=30
        )

    @property
    def refresh_client(self) -> tuple[str, str]:
        return self._basic("app")

    def refresh_chains(self, count: int) -> list[str]:
        answer = httpx.post(f"{self.base}/_bench/refresh-chains", params={"n": count}, timeout=60)
        answer.raise_for_status()
        return [str(token) for token in answer.json()]


def config(client_secrets: dict[str, str]) -> dict[str, object]:
    """The clients and resources for server.js: the same roles as authserver's clients."""

    def client(client_id: str, grants: list[str], **extra: object) -> dict[str, object]:
        return {
            "client_id": client_id,
            "client_secret": client_secrets[client_id],
            "grant_types": grants,
            "redirect_uris": [],
            "response_types": [],
            **extra,
        }

    return {
        "resource": RESOURCE,
        "opaqueResource": OPAQUE_RESOURCE,
        "cookieKey": _secret(),
        "refreshClient": "app",
        "clients": [
            client("m2m", ["client_credentials"]),
            client("rs", ["client_credentials"]),
            client(
                "app",
                ["authorization_code", "refresh_token"],
                redirect_uris=["http://127.0.0.1/callback"],
                response_types=["code"],
            ),
        ],
    }


@contextmanager
def running(workdir: Path) -> Iterator[Peer]:
    install()
    client_secrets = {name: _secret() for name in ("m2m", "rs", "app")}
    config_file = workdir / "peer.json"
    config_file.write_text(json.dumps(config(client_secrets)))
    port = free_port()
    with (workdir / "peer.log").open("wb") as log:
        process = subprocess.Popen(
            ["node", str(PEER_DIR / "server.js"), str(port), str(config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"NODE_ENV": "production"},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(f"{base}/.well-known/openid-configuration", process, hits=1)
            yield Peer(base, process.pid, client_secrets)
        finally:
            stop(process)
