"""A node's settings, checked when they are made."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..errors import UsageError
from ..wire import _interfaces, _transport
from ..wire._security import TLSConfig
from ._choice import CHOICES, LEAST_BUSY


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Settings of one node; see :class:`mesh.Global` for their meaning."""

    name: str
    listen: str
    mesh_name: str = "default"
    controller: str | None = None
    peers: tuple[str, ...] = ()
    max_message_size: int = _transport.DEFAULT_MAX_MESSAGE_SIZE
    max_workers: int = 32
    connect_timeout: float = 30.0
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    secret: bytes | None = field(default=None, repr=False)
    tls: TLSConfig | None = None
    discovery: bool = False
    interfaces: tuple[str, ...] | None = None
    # False: discover without being announced (``mesh ls``).
    announce: bool = True
    # How a call without a receiver picks a provider (see mesh.node._choice).
    choice: str = LEAST_BUSY

    def __post_init__(self) -> None:
        if not self.name:
            raise UsageError("process_name must not be empty")
        if self.max_message_size <= 0:
            raise UsageError(f"max_message_size must be positive, not {self.max_message_size!r}")
        if self.choice not in CHOICES:
            raise UsageError(f"choice must be one of {', '.join(map(repr, CHOICES))}, not {self.choice!r}")
        if self.max_workers <= 0:
            raise UsageError(f"max_workers must be positive, not {self.max_workers!r}")
        if self.connect_timeout <= 0:
            raise UsageError(f"connect_timeout must be positive, not {self.connect_timeout!r}")
        if self.secret is not None and (not isinstance(self.secret, bytes) or not self.secret):
            raise UsageError("secret must be non-empty bytes or None")
        if self.tls is not None and not isinstance(self.tls, TLSConfig):
            raise UsageError(f"tls must be a TLSConfig or None, not {type(self.tls).__name__}")
        if self.discovery:
            from ..membership.discovery import check_announceable

            check_announceable(process_name=self.name, mesh_name=self.mesh_name)
        if self.interfaces is not None:
            if not self.discovery:
                raise UsageError("interfaces= chooses where discovery runs: it needs discovery=True")
            _interfaces.resolve(self.interfaces)
        if self.discovery and _transport.unix_path(self.listen) is not None:
            raise UsageError(
                f"discovery announces a TCP address, but listen={self.listen!r} is a UNIX socket; "
                "listen on host:port (port 0 picks one)"
            )
