"""`authserver audit list`: filters, JSON, and one-line errors with the usual exit codes."""

from __future__ import annotations

import json

from tests.cli.test_cli import invoke, one_line_error  # noqa: F401  (the fixture)


def test_audit_list_filters_and_json(invoke) -> None:  # type: ignore[no-untyped-def,no-redef]  # noqa: F811
    made = invoke(
        "users",
        "create",
        "--email",
        "ops@example.com",
        "--username",
        "ops",
        "--password-stdin",
        stdin="a long operator passphrase\n",
    )
    assert made.exit_code == 0, made.output
    invoke("clients", "create", "--name", "svc", "--grant-type", "client_credentials", "--scope", "read")
    rows = json.loads(invoke("audit", "list", "--json").stdout)
    assert [r["event"] for r in rows][:2] == ["client.created", "user.created"]  # newest first
    assert all({"at", "event", "outcome", "user_id", "client_id", "ip"} <= set(r) for r in rows)
    by_user = json.loads(invoke("audit", "list", "--user", "ops", "--json").stdout)
    assert [r["event"] for r in by_user] == ["user.created"] and by_user[0]["outcome"] == "success"
    assert (
        json.loads(invoke("audit", "list", "--event", "client.", "--json").stdout)[0]["event"]
        == "client.created"
    )
    assert json.loads(invoke("audit", "list", "--since", "1h", "--json").stdout)
    assert json.loads(invoke("audit", "list", "--since", "2999-01-01", "--json").stdout) == []
    text = invoke("audit", "list", "--event", "user.created").stdout
    assert "user.created success user_id=" in text


def test_audit_list_errors(invoke) -> None:  # type: ignore[no-untyped-def,no-redef]  # noqa: F811
    bad = invoke("audit", "list", "--since", "yesterday-ish")
    assert bad.exit_code == 1 and "--since" in one_line_error(bad)
    unknown = invoke("audit", "list", "--user", "nobody")
    assert unknown.exit_code == 1 and "No such user" in one_line_error(unknown)
    assert invoke("audit", "list", "--limit", "0").exit_code == 2
