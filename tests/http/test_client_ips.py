"""B4: X-Forwarded-For is believed only from trusted proxies, read from the right."""

from __future__ import annotations

import logging

import httpx
import pytest

from authserver.http import client_ips
from authserver.http.client_ips import resolve
from authserver.settings import Settings

PROXIES = ("10.0.0.0/8", "127.0.0.1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not from a proxy: header ignored
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1, 10.9.9.9"], "198.51.100.1"),  # a spoofed left part
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two header lines
        ("10.1.2.3", ["not-an-ip, 10.9.9.9"], "10.9.9.9"),  # garbage stops the walk
        ("10.1.2.3", [], "10.1.2.3"),
        ("127.0.0.1", ["127.0.0.9"], "127.0.0.9"),
        ("::ffff:10.1.2.3", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_B4_forwarded_for_only_from_trusted_proxies(peer: str, forwarded: list[str], expected: str) -> None:
    assert resolve(peer, forwarded, PROXIES) == expected


def test_no_trusted_proxies_means_the_socket_peer() -> None:
    assert resolve("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_trusted_proxies_setting_is_validated() -> None:
    with pytest.raises(ValueError):
        Settings(trusted_proxies=["not a network"])


async def test_forwarded_for_without_trusted_proxies_warns_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy, a missing AUTHSERVER_TRUSTED_PROXIES would lock accounts out for everyone:
    the operator is told, once per process, however many requests carry the header."""
    monkeypatch.setattr(client_ips, "_warned_untrusted_forwarding", False)
    caplog.set_level(logging.WARNING, logger="authserver.http")
    for _ in range(3):
        await client.post(
            "/token", data={"grant_type": "client_credentials"}, headers={"X-Forwarded-For": "198.51.100.1"}
        )
    warnings = [r for r in caplog.records if "AUTHSERVER_TRUSTED_PROXIES" in r.getMessage()]
    assert len(warnings) == 1 and "198.51.100.1" not in warnings[0].getMessage()
    caplog.clear()
    monkeypatch.setattr(client_ips, "_warned_untrusted_forwarding", False)
    await client.post("/token", data={"grant_type": "client_credentials"})  # no header: no warning
    assert not [r for r in caplog.records if "AUTHSERVER_TRUSTED_PROXIES" in r.getMessage()]
