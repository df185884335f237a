"""The client's IP address: the socket peer, unless that peer is a trusted proxy.

Behind trusted proxies the client is the right-most ``X-Forwarded-For`` hop that is not a
trusted proxy itself: everything left of it could have been written by the client.
Without ``TRUSTED_PROXIES`` a client's own ``X-Forwarded-For`` is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

Networks = Sequence[IPv4Network | IPv6Network]
_KEY = "saascore_client_ip"


def _trusted(address: str, networks: Networks) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _forwarded_hops(scope: Any) -> list[str]:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
    return [hop.strip() for hop in ",".join(values).split(",") if hop.strip()]


def client_ip(scope: Any, trusted: Networks) -> str:
    """The address rate limits and audit rows use for this request (cached per request)."""
    state: dict[str, Any] = scope.setdefault("state", {})
    if _KEY not in state:
        state[_KEY] = _resolve(scope, trusted)
    return str(state[_KEY])


def rate_key(scope: Any, trusted: Networks) -> str:
    """Who a per-client rate limit counts: the client's IPv4 address, or the /64 network of
    its IPv6 address (one subscriber gets a whole /64, and picks any address in it)."""
    address = client_ip(scope, trusted)
    try:
        ip = ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
            return str(ip.ipv4_mapped)
        return str(ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _resolve(scope: Any, trusted: Networks) -> str:
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    for hop in reversed(_forwarded_hops(scope)):
        try:
            ip_address(hop)
        except ValueError:
            return peer  # a garbled chain: trust nothing in it
        if not _trusted(hop, trusted):
            return hop
    return peer
