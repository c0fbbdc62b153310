"""`authserver serve` that cannot start says why in one line, exits non-zero, prints no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.servers import free_port


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    defaults = {
        "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
    }
    return subprocess.run(
        [sys.executable, "-m", "authserver", "serve", "--port", str(free_port())],
        env=base | defaults | env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )


def make_keys(tmp_path: Path, **env: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    done = subprocess.run(
        [sys.executable, "-m", "authserver", "keys", "rotate", "--force"],
        env=base
        | {
            "AUTHSERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
            "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        }
        | env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_wrong_key_encryption_secret(tmp_path: Path) -> None:
    make_keys(tmp_path, AUTHSERVER_KEY_ENCRYPTION_SECRET="a" * 40)
    line = one_line(serve(tmp_path, AUTHSERVER_KEY_ENCRYPTION_SECRET="b" * 40))
    assert "cannot decrypt signing key" in line and "key-encryption secret" in line


def test_unreachable_database(tmp_path: Path) -> None:
    result = serve(tmp_path, AUTHSERVER_DATABASE_URL="postgresql+asyncpg://nobody:pw@127.0.0.1:1/nowhere")
    line = one_line(result)
    assert "cannot reach the database" in line and "pw" not in line


def test_world_readable_secret_file(tmp_path: Path) -> None:
    make_keys(tmp_path)
    secret = tmp_path / "keys" / "key-encryption-secret"
    secret.chmod(0o644)
    line = one_line(serve(tmp_path))
    assert str(secret) in line and "readable by other users" in line


def test_missing_secret_file_with_keys_in_the_database(tmp_path: Path) -> None:
    make_keys(tmp_path)
    (tmp_path / "keys" / "key-encryption-secret").unlink()
    line = one_line(serve(tmp_path))
    assert "key-encryption-secret is missing" in line and "AUTHSERVER_KEY_ENCRYPTION_SECRET" in line
    assert not (tmp_path / "keys" / "key-encryption-secret").exists()  # no new secret was made


def test_bad_setting(tmp_path: Path) -> None:
    line = one_line(serve(tmp_path, AUTHSERVER_DB_STATEMENT_TIMEOUT="-1"))
    assert line.startswith("Error: AUTHSERVER_DB_STATEMENT_TIMEOUT")
