"""Who may talk to a node: the mesh secret (HMAC challenge-response) and mutual TLS.

Payloads are pickles, and loading a pickle runs code: a node must never decode a frame from a peer
that has not proven it belongs to the mesh. See docs/security.md for the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass

import grpc

from ..errors import UsageError

SECRET_ENV = "MESH_SECRET"
NONCE_BYTES = 32

PemSource = str | os.PathLike[str] | bytes


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Mutual TLS for node links and the controller.

    Every node (and the controller) presents ``cert`` and accepts only peers whose certificate is
    signed by ``ca``; each side checks the other. Give each value as a path to a PEM file, or as the
    PEM ``bytes`` themselves. A node's certificate must name the host others dial it by (a
    ``subjectAltName`` such as ``IP:127.0.0.1`` or ``DNS:node1.example``).

    Args:
        cert: this process's certificate chain (PEM).
        key: the private key of ``cert`` (PEM).
        ca: the certificate(s) of the authority that signs every member's certificate (PEM).

    Raises:
        UsageError: a file does not exist or is not PEM.
    """

    cert: PemSource
    key: PemSource
    ca: PemSource

    def __post_init__(self) -> None:
        for field in ("cert", "key", "ca"):
            _read_pem(field, getattr(self, field))

    def pem(self) -> tuple[bytes, bytes, bytes]:
        """The PEM bytes of ``cert``, ``key`` and ``ca``."""
        return _read_pem("cert", self.cert), _read_pem("key", self.key), _read_pem("ca", self.ca)

    def server_credentials(self) -> grpc.ServerCredentials:
        """Server credentials that require and check a client certificate."""
        cert, key, ca = self.pem()
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials that present this process's certificate and check the server's."""
        cert, key, ca = self.pem()
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def _read_pem(field: str, source: PemSource) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise UsageError(f"TLSConfig.{field}: cannot read {os.fspath(source)!r}: {exc.strerror}") from exc
    if b"-----BEGIN " not in data:
        raise UsageError(f"TLSConfig.{field}: {_describe(source)} is not PEM (no '-----BEGIN' line)")
    return data


def _describe(source: PemSource) -> str:
    return "the given bytes" if isinstance(source, bytes) else repr(os.fspath(source))


def resolve_secret(secret: str | bytes | None) -> bytes | None:
    """The mesh secret as bytes: ``secret`` when given, else ``$MESH_SECRET``, else None.

    Raises:
        UsageError: the secret is empty or not a str or bytes.
    """
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
        if secret is None:
            return None
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise UsageError(f"secret must be str or bytes, not {type(secret).__name__}")
    if not secret:
        raise UsageError("secret must not be empty")
    return secret


# ---------------------------------------------------------------------- challenge-response

# Who computes a proof. Distinct labels keep one side's proof from being replayed as the other's.
DIALLER = b"dialler"
LISTENER = b"listener"


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def proof(secret: bytes | None, role: bytes, dialler_nonce: bytes, listener_nonce: bytes) -> bytes:
    """HMAC-SHA256 over both fresh nonces and the prover's role; empty without a secret."""
    if secret is None:
        return b""
    message = b"grpcmesh-v1\0" + role + b"\0" + dialler_nonce + listener_nonce
    return hmac.new(secret, message, hashlib.sha256).digest()


def proof_problem(
    secret: bytes | None, role: bytes, dialler_nonce: bytes, listener_nonce: bytes, received: bytes
) -> str | None:
    """Why ``received`` is not the other side's valid proof, or None when it is (or no secret is set)."""
    if secret is None:
        return None
    if len(dialler_nonce) != NONCE_BYTES or len(listener_nonce) != NONCE_BYTES:
        return "the handshake has no fresh nonce"
    if not received:
        return "it sent no proof of the mesh secret (is its secret set?)"
    if not hmac.compare_digest(proof(secret, role, dialler_nonce, listener_nonce), received):
        return "its proof of the mesh secret is wrong (is its secret the same as ours?)"
    return None


# ---------------------------------------------------------------------- safe defaults


def check_listen_address(host: str, secret: bytes | None, tls: TLSConfig | None, what: str, address: str) -> None:
    """Refuse to serve ``what`` on ``address`` (whose host is ``host``) without a secret or TLS, unless
    only this machine can reach it.

    Raises:
        UsageError: other machines can reach ``host`` and nothing authenticates peers.
    """
    if secret is not None or tls is not None or is_loopback(host):
        return
    raise UsageError(
        f"refusing to serve the {what} on {address} without a mesh secret or TLS: anyone who can reach "
        "it could run code in this process (payloads are pickles). Pass secret=... (or set MESH_SECRET; "
        "--secret for mesh controller) or tls=TLSConfig(cert, key, ca), or listen on a UNIX socket or a "
        "loopback address such as 127.0.0.1"
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reached only from this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)
