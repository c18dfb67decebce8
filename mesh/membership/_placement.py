"""Where a ``Global`` finds its mesh and listens when its arguments leave it open.

::

    host/port given          join that controller; listen on the address that routes to it
    peers given              link to them; listen on the address that routes to them
                             (a UNIX socket when every peer is on this machine)
    a mesh secret, no more   the LAN: discovery on, listen on every interface (announced by address)
    nothing                  this machine: the controller and the node on UNIX sockets

``discovery=True`` or ``False`` overrides the third line either way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ControllerUnavailable
from ..wire import _interfaces, _transport
from ..wire._security import is_loopback

MESH_NAME_ENV = "MESH_NAME"
DEFAULT_MESH_NAME = "default"


@dataclass(frozen=True, slots=True)
class Placement:
    """The addresses and the way of finding the mesh of one ``Global``."""

    # The controller's address: the one to serve on (init_controller) or to join.
    controller: str
    # Whether the node joins ``controller`` (else it has peers or discovery only).
    use_controller: bool
    listen: str
    discovery: bool
    mesh_name: str


def mesh_name_or_default(mesh_name: str | None) -> str:
    """``mesh_name`` when given, else ``$MESH_NAME``, else ``"default"``."""
    if mesh_name is not None:
        return mesh_name
    return os.environ.get(MESH_NAME_ENV) or DEFAULT_MESH_NAME


def place(
    *,
    host: str | None,
    port: int | None,
    listen: str | None,
    peers: Sequence[str],
    discovery: bool | None,
    interfaces: Sequence[str] | None,
    init_controller: bool,
    has_secret: bool,
    node_id: str,
    mesh_name: str | None,
) -> Placement:
    """Settle the open arguments of a ``Global`` as the module docstring draws.

    Raises:
        ControllerUnavailable: the controller's host does not resolve, or no route leads to it.
    """
    no_address = host is None and port is None
    if discovery is None:
        discovery = has_secret and no_address and not peers
    on_lan = discovery and no_address
    use_controller = init_controller or not no_address or not (peers or discovery)
    if on_lan:
        controller = _interfaces.default_listen(interfaces)
    elif no_address:
        controller = _transport.default_controller_address()
    else:
        controller = _transport.tcp_address(host or "localhost", port or 0)
    if listen is None:
        if on_lan:
            listen = controller
        elif no_address:
            listen = _interfaces.listen_toward_peers(peers) or _transport.default_node_address(node_id)
        elif init_controller:
            listen = _transport.tcp_address(host or "localhost", 0)
        else:
            listen = _listen_toward_controller(host or "localhost")
    return Placement(controller, use_controller, listen, discovery, mesh_name_or_default(mesh_name))


def _listen_toward_controller(host: str) -> str:
    """Port 0 on the address of this host that routes to the controller on ``host``."""
    if host in _interfaces.WILDCARDS or is_loopback(host):
        return _transport.tcp_address(host, 0)
    try:
        source = _interfaces.route_source(host)
    except socket.gaierror as exc:
        raise ControllerUnavailable(
            f"the controller's host {host!r} does not resolve ({exc.strerror}): check the name, or give its IP address"
        ) from exc
    except OSError as exc:
        raise ControllerUnavailable(
            f"no route from this host to the controller's host {host!r} ({exc.strerror}): check the address "
            "and this host's network"
        ) from exc
    return _transport.tcp_address(source, 0)
