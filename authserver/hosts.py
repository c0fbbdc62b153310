"""Which hosts count as loopback: the one place plain http is tolerated (issuer, redirect URIs)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
