"""This host's network interfaces: where discovery runs and which addresses a node is reached on."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import ifaddr

from ..errors import MeshError, UsageError
from ._security import is_loopback
from ._transport import split_host_port, tcp_address, unix_path

WILDCARDS = ("0.0.0.0", "::")
# Any port will do: connecting a UDP socket only picks a route, it sends nothing.
_ANY_PORT = 9


def _host_addresses() -> dict[str, list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """Interface name -> its IP addresses (IPv6 ones without scope)."""
    found: dict[str, list[ipaddress.IPv4Address | ipaddress.IPv6Address]] = {}
    for adapter in ifaddr.get_adapters():
        ips = found.setdefault(adapter.nice_name, [])
        for ip in adapter.ips:
            ips.append(ipaddress.ip_address(ip.ip if isinstance(ip.ip, str) else ip.ip[0]))
    return found


def resolve(interfaces: Sequence[str]) -> list[str]:
    """The IP addresses named by ``interfaces``: each entry is an address of this host or an
    interface name (which stands for its IPv4 addresses).

    Raises:
        UsageError: an entry is neither an address of this host nor an interface with an IPv4 address.
    """
    if isinstance(interfaces, str):
        raise UsageError(f"interfaces must be a list such as [{interfaces!r}], not a single string")
    if not interfaces:
        raise UsageError("interfaces must not be empty; leave it None to use every interface")
    host = _host_addresses()
    own = {str(ip) for ips in host.values() for ip in ips}
    found: list[str] = []
    for entry in interfaces:
        if not isinstance(entry, str) or not entry:
            raise UsageError(f"interfaces: each entry is an IP address or interface name, not {entry!r}")
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            if entry not in host:
                raise UsageError(
                    f"interfaces: {entry!r} is neither an IP address nor an interface of this host "
                    f"(interfaces: {', '.join(sorted(host))})"
                ) from None
            named = [str(ip) for ip in host[entry] if ip.version == 4]
            if not named:
                raise UsageError(f"interfaces: interface {entry!r} has no IPv4 address") from None
            found.extend(a for a in named if a not in found)
            continue
        if address not in own:
            raise UsageError(
                f"interfaces: {entry!r} is not an address of this host (its addresses: {', '.join(sorted(own))})"
            )
        if address not in found:
            found.append(address)
    return found


def _lan_addresses(with_ipv6: bool) -> list[str]:
    """Every address of this host but loopback and link-local IPv6; loopback when there is no other."""
    found = [
        str(ip)
        for ips in _host_addresses().values()
        for ip in ips
        if not ip.is_loopback and (ip.version == 4 or (with_ipv6 and not ip.is_link_local))
    ]
    return list(dict.fromkeys(found)) or ["127.0.0.1"]


def default_listen(interfaces: Sequence[str] | None) -> str:
    """Where a discovering node listens by default: the one address of ``interfaces``, else everywhere."""
    if interfaces is not None:
        addresses = resolve(interfaces)
        if len(addresses) == 1:
            return tcp_address(addresses[0], 0)
    return "0.0.0.0:0"


def reachable_addresses(bound: str, interfaces: Sequence[str] | None) -> list[str]:
    """The addresses peers can dial for a server bound to ``bound``, best first.

    A wildcard host (``0.0.0.0``, ``::``) becomes the addresses of ``interfaces`` or, without them,
    of every non-loopback interface; any other address is returned as it is.
    """
    if unix_path(bound) is not None:
        return [bound]
    host, port = split_host_port(bound)
    if host not in WILDCARDS:
        return [bound]
    ips = resolve(interfaces) if interfaces is not None else _lan_addresses(with_ipv6=host == "::")
    return [tcp_address(ip, port) for ip in ips]


def ip_literals(address: str) -> tuple[list[str], int]:
    """The IP addresses (host names resolved) and port of a ``host:port`` address.

    Raises:
        UsageError: ``address`` is a UNIX socket or its host does not resolve.
    """
    if unix_path(address) is not None:
        raise UsageError(f"discovery announces TCP addresses; {address!r} is a UNIX socket: listen on host:port")
    host, port = split_host_port(address)
    try:
        return [str(ipaddress.ip_address(host))], port
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot announce {address!r}: host {host!r} does not resolve ({exc.strerror})") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos)), port


def as_tuple(interfaces: Sequence[str] | None) -> tuple[str, ...] | None:
    """``interfaces`` as a user gave them, checked by :func:`resolve`."""
    if interfaces is None:
        return None
    resolve(interfaces)
    return tuple(interfaces)


def route_source(host: str) -> str:
    """The address of this host that traffic to ``host`` leaves from (no packet is sent).

    Raises:
        socket.gaierror: ``host`` does not resolve.
        OSError: there is no route to it.
    """
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, _ANY_PORT, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.connect(sockaddr)
        return str(probe.getsockname()[0])


def listen_toward_peers(peers: Sequence[str]) -> str | None:
    """Where a node of ``peers`` listens by default: the address that routes to them (every address
    when they are reached from several), or None when every peer is on this machine.

    A peer that does not resolve or has no route is left out: its link reports it.
    """
    sources: list[str] = []
    for address in peers:
        if unix_path(address) is not None:
            continue
        try:
            host, _ = split_host_port(address)
        except MeshError:
            continue
        if is_loopback(host):
            continue
        try:
            source = route_source(host)
        except OSError:
            continue
        if source not in sources:
            sources.append(source)
    if not sources:
        return None
    if len(sources) == 1:
        return tcp_address(sources[0], 0)
    return "[::]:0" if any(":" in ip for ip in sources) else "0.0.0.0:0"
