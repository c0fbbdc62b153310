"""F4: back up a live SQLite server, restore into a fresh directory with the same key secret, and
find everything intact: users, clients, refresh families (an old refresh token still rotates) and
signing keys (an old access token still validates against the JWKS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import jwt as pyjwt

from tests.servers import free_port, running_server

PASSWORD = "correct horse battery staple"
SECRET = "a key-encryption secret of forty-odd characters"


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    done = subprocess.run(
        [sys.executable, "-m", "authserver", *args],
        env=base | env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_F4_backup_of_a_live_server_restores_everything(tmp_path: Path) -> None:
    live, restored = tmp_path / "live", tmp_path / "restored"
    live.mkdir()
    restored.mkdir()
    issuer = f"http://127.0.0.1:{free_port()}"  # the same public URL before and after
    env = {
        "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{live / 'auth.db'}",
        "AUTHSERVER_KEYS_DIR": str(live / "keys"),
        "AUTHSERVER_KEY_ENCRYPTION_SECRET": SECRET,
        "AUTHSERVER_ISSUER": issuer,
    }
    cli(env, "db", "upgrade")
    app = json.loads(
        cli(
            env,
            "clients",
            "create",
            "--name",
            "app",
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
            "--scope",
            "read",
            "--json",
        )
    )
    cli(
        env,
        "users",
        "create",
        "--email",
        "b@example.com",
        "--username",
        "bob",
        "--password-stdin",
        stdin=PASSWORD,
    )
    auth = (app["client_id"], app["client_secret"])
    with running_server(env["AUTHSERVER_DATABASE_URL"], live, env=env) as base:
        tokens = httpx.post(
            base + "/token",
            data={"grant_type": "password", "username": "bob", "password": PASSWORD},
            auth=auth,
        ).json()
        kids = {k["kid"] for k in httpx.get(base + "/.well-known/jwks.json").json()["keys"]}
        # Back up while the server keeps writing (signups).
        stop = threading.Event()

        def keep_writing() -> None:
            n = 0
            while not stop.is_set():
                httpx.post(
                    base + "/signup",
                    json={"email": f"w{n}@example.com", "username": f"writer{n}", "password": PASSWORD},
                )
                n += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            out = cli(env, "db", "backup", str(tmp_path / "backup.db"))
        finally:
            stop.set()
            writer.join()
        assert "key-encryption secret" in out
    assert (tmp_path / "backup.db").stat().st_mode & 0o077 == 0

    env_restored = env | {
        "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{restored / 'auth.db'}",
        "AUTHSERVER_KEYS_DIR": str(restored / "keys"),
    }
    cli(env_restored, "db", "restore", str(tmp_path / "backup.db"))
    assert "bob" in cli(env_restored, "users", "list")
    assert app["client_id"] in cli(env_restored, "clients", "list")
    with running_server(env_restored["AUTHSERVER_DATABASE_URL"], restored, env=env_restored) as base:
        jwks = httpx.get(base + "/.well-known/jwks.json").json()
        assert kids <= {k["kid"] for k in jwks["keys"]}  # the same signing keys
        key = next(
            k for k in jwks["keys"] if k["kid"] == pyjwt.get_unverified_header(tokens["access_token"])["kid"]
        )
        claims = pyjwt.decode(
            tokens["access_token"], pyjwt.PyJWK(key).key, algorithms=["RS256"], audience=issuer, issuer=issuer
        )
        assert claims["client_id"] == app["client_id"]
        rotated = httpx.post(
            base + "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=auth,
        )
        assert rotated.status_code == 200, rotated.text
    assert not (restored / "keys" / "key-encryption-secret").exists()  # only the secret was needed


def test_restore_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    env = {
        "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "AUTHSERVER_KEYS_DIR": str(tmp_path),
    }
    cli(env, "db", "upgrade")
    cli(env, "db", "backup", str(tmp_path / "b.db"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    done = subprocess.run(
        [sys.executable, "-m", "authserver", "db", "restore", str(tmp_path / "b.db")],
        env=base | env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "pass --force" in done.stderr and "Traceback" not in done.stderr
