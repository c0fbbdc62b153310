"""examples/fastapi_resource_server.py, as the README shows it, against a real authserver process."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from authserver.context import AppContext
from tests.oauth.helpers import make_client
from tests.servers import running_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fastapi_resource_server.py"


def test_readme_shows_the_example_verbatim() -> None:
    assert EXAMPLE.read_text() in (ROOT / "README.md").read_text()


def load_example(monkeypatch: pytest.MonkeyPatch, issuer: str) -> ModuleType:
    monkeypatch.setenv("AUTHSERVER_ISSUER", issuer)
    monkeypatch.delenv("API_AUDIENCE", raising=False)
    spec = importlib.util.spec_from_file_location("fastapi_resource_server_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_example_accepts_real_tokens_and_refuses_the_rest(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = await make_client(ctx, scope="orders:read")
    other = await make_client(ctx, scope="profile")
    with running_server(ctx.settings.database_url, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base) as auth:
            tokens = {}
            for name, app in (("reader", reader), ("other", other)):
                response = await auth.post(
                    "/token", data={"grant_type": "client_credentials"}, auth=app.basic
                )
                assert response.status_code == 200, response.text
                tokens[name] = response.json()["access_token"]
        example = load_example(monkeypatch, base)
        transport = httpx.ASGITransport(app=example.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            ok = await api.get("/orders", headers={"Authorization": f"Bearer {tokens['reader']}"})
            assert ok.status_code == 200, ok.text
            assert ok.json()["client_id"] == reader.client_id and ok.json()["subject"]
            forbidden = await api.get("/orders", headers={"Authorization": f"Bearer {tokens['other']}"})
            assert forbidden.status_code == 403
            assert forbidden.headers["www-authenticate"].endswith('scope="orders:read"')
            anonymous = await api.get("/orders")
            assert (
                anonymous.status_code == 401
                and anonymous.headers["www-authenticate"] == 'Bearer realm="orders"'
            )
            head, body, _ = tokens["reader"].split(".")
            tampered = await api.get("/orders", headers={"Authorization": f"Bearer {head}.{body}.AAAA"})
            assert (
                tampered.status_code == 401
                and 'error="invalid_token"' in tampered.headers["www-authenticate"]
            )
