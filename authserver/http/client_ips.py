"""The client's IP address: the socket's peer, unless that peer is a trusted proxy (checklist B4).

`X-Forwarded-For` is believed only when the connection comes from an address in
`AUTHSERVER_TRUSTED_PROXIES`. The header is read from the right: each proxy appends the address it
received the request from, so the rightmost entry that is not itself a trusted proxy is the
client. Anything to its left was written by the client and could be anything; an entry that is
not an IP address ends the walk at the last address we could trust.

uvicorn's own `--proxy-headers` rewriting is off (`authserver serve` passes `proxy_headers=False`),
so this module is the one place that decides.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_log = logging.getLogger("authserver.http")
_warned_untrusted_forwarding = False


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def resolve(peer: str | None, forwarded_for: list[str], trusted: tuple[str, ...]) -> str | None:
    """The client address for a connection from `peer` carrying these X-Forwarded-For values."""
    if peer is None:
        return None
    networks = _networks(trusted)
    current = _parse(peer)
    if current is None or not networks or not _trusted(current, networks):
        return str(current) if current is not None else peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # garbage: stop at the last address a trusted hop vouched for
        current = address
        if not _trusted(address, networks):
            break
    return str(current)


def client_ip(request: Request) -> str | None:
    """The request's client address (cached on the request's scope)."""
    state = request.scope.setdefault("state", {})
    if "client_ip" not in state:
        trusted = tuple(request.app.state.ctx.settings.trusted_proxies)
        peer = request.client.host if request.client else None
        forwarded = request.headers.getlist("x-forwarded-for") if trusted else []
        if not trusted and "x-forwarded-for" in request.headers:
            _warn_untrusted_forwarding()
        state["client_ip"] = resolve(peer, forwarded, trusted)
    ip: str | None = state["client_ip"]
    return ip


def _warn_untrusted_forwarding() -> None:
    """Once per process: behind a proxy without AUTHSERVER_TRUSTED_PROXIES, every client counts as
    the proxy's address, so ten wrong passwords from anyone lock an account out for everyone. The
    header may also come from a client, hence once, never per request."""
    global _warned_untrusted_forwarding
    if not _warned_untrusted_forwarding:
        _warned_untrusted_forwarding = True
        _log.warning(
            "X-Forwarded-For ignored: AUTHSERVER_TRUSTED_PROXIES is not set. If a proxy or load "
            "balancer fronts this server, set it, or every client counts as the proxy's address "
            "for rate limits and sign-in lockouts"
        )
