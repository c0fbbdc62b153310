"""GET /metrics: counters that move with what the server did, and one view over all workers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from authserver.context import AppContext
from tests.oauth.helpers import PASSWORD, make_client, make_resource_server, make_user
from tests.servers import running_server


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" ([0-9.e+-]+)"
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_tokens_reuse_and_revocations(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("client_credentials", "password", "refresh_token"))
    rs = await make_resource_server(ctx)
    await make_user(ctx)
    before = await scrape(client)
    for _ in range(3):
        assert (
            await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)
        ).is_success
    login = await client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}, auth=app.basic
    )
    refresh = {"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]}
    assert (await client.post("/token", data=refresh, auth=app.basic)).status_code == 200
    assert (await client.post("/token", data=refresh, auth=app.basic)).status_code == 400  # reuse
    await client.post("/introspect", data={"token": "x"}, auth=rs.basic)
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("authserver_tokens_issued_total", grant_type="client_credentials") == 3
    assert moved("authserver_tokens_issued_total", grant_type="refresh_token") == 1
    assert moved("authserver_reuse_detected_total", kind="refresh_token") == 1
    assert moved("authserver_revocations_total", reason="refresh_reuse") == 1
    assert moved("authserver_http_requests_total", endpoint="/introspect", status="200") == 1
    assert sample(after, "authserver_signing_key_age_seconds") >= 0
    assert "authserver_db_pool_connections_in_use" in after
    for secret in (app.secret, PASSWORD, login.json()["refresh_token"]):
        assert secret and secret not in after


async def test_unknown_paths_share_one_label(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    for n in range(5):
        await client.get(f"/probe-{n}")
    after = await scrape(client)
    assert "/probe-" not in after
    other = sample(after, "authserver_http_requests_total", endpoint="other", status="404")
    assert other - sample(before, "authserver_http_requests_total", endpoint="other", status="404") == 5


def test_two_workers_report_as_one(tmp_path: Path) -> None:
    """`serve --workers 2`: a scrape of either worker counts the tokens both issued."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    with running_server(database, tmp_path, workers=2) as base:
        import json

        from click.testing import CliRunner

        from authserver.cli import cli

        env = {"AUTHSERVER_DATABASE_URL": database, "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys")}
        made = CliRunner().invoke(
            cli, ["clients", "create", "--name", "m", "--grant-type", "client_credentials", "--json"], env=env
        )
        app = json.loads(made.stdout)
        auth = (app["client_id"], app["client_secret"])
        for _ in range(20):  # new connections: the kernel spreads them over both workers
            with httpx.Client(base_url=base) as http:
                assert http.post("/token", data={"grant_type": "client_credentials"}, auth=auth).is_success
        text = httpx.get(base + "/metrics").text
        assert sample(text, "authserver_tokens_issued_total", grant_type="client_credentials") == 20
