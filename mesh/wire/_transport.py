"""gRPC channel and server settings, and the addresses nodes and controllers listen on."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import grpc

from ..errors import AddressInUse, MeshError, UsageError
from ._security import TLSConfig, check_listen_address

DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024
# Room for the envelope around the largest payload, so the payload limit is the one that bites.
_FRAME_OVERHEAD = 1024 * 1024
KEEPALIVE_MS = 1000
# How long one connection attempt may wait for the server's SETTINGS frame (in grpc core that is
# grpc.min_reconnect_backoff_ms). A peer answers at once or is gone, and a short bound lets a redial
# notice; a controller taking a herd of joins on a busy machine failed every attempt at 100 ms.
PEER_CONNECT_ATTEMPT_MS = 100
CONTROLLER_CONNECT_ATTEMPT_MS = 5000
# A busy peer (a busy machine) is dialled again with these longer bounds.
PEER_SLOW_CONNECT_ATTEMPTS_MS = (500, 2500)
# How gRPC words an attempt that a busy peer failed, as opposed to one refused (a peer gone): cut by
# its bound before the server's SETTINGS frame, or during the TCP handshake ("connect() timed out" on
# either of gRPC's I/O engines, "handshaker shutdown" on EventEngine; a busy dialler meets it more
# often on the poll-based one, mesh/_grpc_env.py), or dropped by the peer's kernel before HTTP/2
# began (a connection it had no room to accept: reset, or a broken pipe on the dialler's first write).
_BUSY_PEER = (
    "before receiving SETTINGS frame",
    "handshaker shutdown",
    "connect() timed out",
    "Connection reset by peer",
    "Broken pipe",
)

GrpcOptions = list[tuple[str, Any]]


def _shared_options(max_message_size: int) -> GrpcOptions:
    """What both ends of a link set alike: the message limit (with room for the frame) and keepalive pings."""
    limit = max_message_size + _FRAME_OVERHEAD
    return [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_MS),
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_MS),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def channel_options(max_message_size: int, connect_attempt_ms: int = PEER_CONNECT_ATTEMPT_MS) -> GrpcOptions:
    """Options for every channel: large messages, and a dead or hung peer noticed within ~2 s.

    ``connect_attempt_ms`` bounds one connection attempt (see ``CONTROLLER_CONNECT_ATTEMPT_MS``).
    """
    return [
        *_shared_options(max_message_size),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", connect_attempt_ms),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.enable_retries", 0),
        # Each peer link gets its own TCP connection instead of sharing a subchannel.
        ("grpc.use_local_subchannel_pool", 1),
    ]


def server_options(max_message_size: int) -> GrpcOptions:
    """Options for every server: accept frequent keepalive pings instead of answering GOAWAY."""
    return [
        *_shared_options(max_message_size),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", KEEPALIVE_MS // 2),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.so_reuseport", 0),
    ]


def socket_dir() -> Path:
    """The folder for default UNIX sockets: ``<temp dir>/grpcmesh``."""
    path = Path(tempfile.gettempdir()) / "grpcmesh"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def default_controller_address() -> str:
    return f"unix:{socket_dir() / 'controller.sock'}"


def default_node_address(node_id: str) -> str:
    return f"unix:{socket_dir() / f'node-{node_id[:16]}.sock'}"


def unix_path(address: str) -> str | None:
    """The filesystem path of a ``unix:`` address, else None."""
    if address.startswith("unix://"):
        return address[len("unix://") :]
    if address.startswith("unix:"):
        return address[len("unix:") :]
    return None


def tcp_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(address: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> ``(host, port)``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise MeshError(f"address {address!r} is not host:port or unix:/path")
    return host.strip("[]"), int(port)


def bind(
    server: grpc.aio.Server, address: str, what: str, secret: bytes | None = None, tls: TLSConfig | None = None
) -> str:
    """Bind ``server`` to ``address`` (port 0 picks a free port) and return the address to announce.

    With ``tls`` the port requires client certificates. Without ``secret`` or ``tls``, only UNIX sockets
    and loopback addresses are served. The address is first tried with a plain socket, so a failure is
    explained by its cause (and gRPC, which would log its own line to stderr, is never given it).

    Raises:
        UsageError: a non-loopback address without ``secret`` or ``tls``; a host that is not this
            host's or does not resolve; a UNIX socket path that cannot be made.
        AddressInUse: another process listens on the address.
        MeshError: the address is malformed or cannot be served for another reason.
    """
    path = unix_path(address)
    if path is not None:
        if _unix_socket_answers(path):
            raise AddressInUse(f"cannot listen on {address} for the {what}: another process is serving there")
        if os.path.exists(path):
            os.unlink(path)
        _try_unix(path, address, what)
        target = f"unix:{path}"
    else:
        host, port = split_host_port(address)
        check_listen_address(host, secret, tls, what, address)
        _try_tcp(host, port, address, what)
        target = address
    try:
        bound = server.add_secure_port(target, tls.server_credentials()) if tls else server.add_insecure_port(target)
    except RuntimeError as exc:
        # Free a moment ago (the probe bound it): another process took it since.
        raise AddressInUse(f"cannot listen on {address} for the {what}: {exc}") from exc
    if path is not None:
        return target
    host, _ = split_host_port(address)
    return tcp_address(host, bound)


def _try_unix(path: str, address: str, what: str) -> None:
    """Raise what gRPC would fail on when binding the UNIX socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(path)
        except OSError as exc:
            raise UsageError(f"cannot listen on {address} for the {what}: {exc.strerror or exc}") from exc
    os.unlink(path)


def _try_tcp(host: str, port: int, address: str, what: str) -> None:
    """Raise what gRPC would fail on when binding ``host:port``: it binds if any address of ``host`` does."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot listen on {address} for the {what}: host {host!r} does not resolve ({exc.strerror}); "
            "give an IP address of this host, or leave listen= unset"
        ) from exc
    failures: list[OSError] = []
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            # As gRPC does, so that a port left in TIME_WAIT by a stopped server counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                failures.append(exc)
            else:
                return
    codes = {exc.errno for exc in failures}
    if errno.EADDRINUSE in codes:
        raise AddressInUse(
            f"cannot listen on {address} for the {what}: port {port} is in use by another process; stop it, "
            "or choose another port (port 0 picks a free one)"
        )
    if errno.EADDRNOTAVAIL in codes:
        raise UsageError(
            f"cannot listen on {address} for the {what}: {host} is not an address of this host; give one "
            "of its own addresses (or 0.0.0.0 for all), or leave listen= unset to listen on the address "
            "that routes to the controller or peers"
        )
    reason = "; ".join(sorted({exc.strerror or str(exc) for exc in failures})) or "no address to bind"
    raise MeshError(f"cannot listen on {address} for the {what}: {reason}")


def open_channel(
    address: str, max_message_size: int, tls: TLSConfig | None, connect_attempt_ms: int = PEER_CONNECT_ATTEMPT_MS
) -> grpc.aio.Channel:
    """A channel to a node or controller, over mutual TLS when ``tls`` is given.

    Over a UNIX socket there is no host name to check, so the peer's certificate must name ``localhost``.
    """
    options = channel_options(max_message_size, connect_attempt_ms)
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    if unix_path(address) is not None:
        options.append(("grpc.ssl_target_name_override", "localhost"))
    return grpc.aio.secure_channel(address, tls.channel_credentials(), options=options)


def busy_peer(exc: grpc.aio.AioRpcError) -> bool:
    """Whether ``exc`` says a connection attempt failed the way a busy peer fails it (out of time, or
    dropped before HTTP/2 began), not that it was refused."""
    details = exc.details() or ""
    return exc.code() == grpc.StatusCode.UNAVAILABLE and any(words in details for words in _BUSY_PEER)


def _unix_socket_answers(path: str) -> bool:
    if not os.path.exists(path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except OSError:
        return False
    else:
        return True
    finally:
        probe.close()


def remove_unix_socket(address: str) -> None:
    path = unix_path(address)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
