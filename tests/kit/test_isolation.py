"""The kit installs and imports without the authorization server or its dependencies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("authserver", "sqlalchemy", "asyncpg", "aiosqlite", "argon2", "authlib", "alembic", "jinja2")
# What the kit may depend on: the HTTP client, the JOSE library and what those two stand on.
KIT_ALLOWED = {"httpx", "joserfc", "cryptography", "anyio"}

PROBE = """
import json, sys
import authserver_resource
import authserver_resource.starlette
import authserver_resource.fastapi
from authserver_resource import Authenticator, BetterAuth, Issuer
Authenticator([Issuer("https://issuer.example", audience="api")], better_auth=BetterAuth("https://app.example"))
print(json.dumps(sorted(sys.modules)))
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_importing_the_kit_loads_nothing_of_the_server(tmp_path: Path) -> None:
    # -I: no cwd or PYTHONPATH on sys.path, so only what is installed can be imported.
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "authserver_resource.fastapi" in loaded and "httpx" in loaded  # the probe really ran
    leaked = [name for name in loaded if name.split(".")[0] in SERVER_ONLY]
    assert leaked == []


def test_the_core_imports_no_web_framework(tmp_path: Path) -> None:
    probe = "import json, sys, authserver_resource; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    roots = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert not roots & {"starlette", "fastapi", *SERVER_ONLY}


def test_kit_dependencies_are_none_of_the_servers() -> None:
    kit = tomllib.loads((ROOT / "kit" / "pyproject.toml").read_text())["project"]
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_name(r) for r in kit["dependencies"]}
    assert required <= KIT_ALLOWED, required - KIT_ALLOWED
    server_only = {_name(r) for r in server["dependencies"]} - KIT_ALLOWED - {"starlette"}
    assert server_only >= {"sqlalchemy", "asyncpg", "aiosqlite", "argon2-cffi", "authlib"}
    extras = {_name(r) for reqs in kit["optional-dependencies"].values() for r in reqs}
    assert extras == {"starlette", "fastapi"}
    assert not (required | extras) & server_only
    assert "authserver" not in required | extras
