"""Zero-configuration discovery: the nodes of one mesh find each other on the LAN over mDNS.

Every node announces an instance of ``_grpcmesh._tcp.local.`` named after its node id (zeroconf does
not notice two processes of one host announcing the same name), with the addresses it can be dialled
on and TXT records: role (``node`` or ``controller``), process name, mesh name, protocol version,
node id and an incarnation id that changes on every start. It browses the same type with multicast
(QM) questions, which existing nodes answer at once, and links to each node of its own mesh through
the ordinary dial and Hello; nodes of other meshes are ignored. A controller announced on the LAN is
joined by nodes that were given no controller.

Liveness never comes from mDNS: a process killed without a goodbye stays in its peers' mDNS caches
for many minutes. Discovery vouches for a peer (the ``DISCOVERY`` membership source) only while it
answers: when its link closes and a redial fails, the peer leaves the view at once; it is redialled,
slowly, while mDNS still lists it, so a healed network partition joins up again. A goodbye (clean
stop) forgets the peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zeroconf import DNSQuestionType, InterfaceChoice, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ..errors import UsageError
from ..wire._interfaces import ip_literals, reachable_addresses, resolve
from ..wire._transport import tcp_address

logger = logging.getLogger("mesh")

SERVICE_TYPE = "_grpcmesh._tcp.local."
# The roles an announcement names (the ``role`` TXT record).
NODE_ROLE = "node"
CONTROLLER_ROLE = "controller"
# The version of the announcement's format (the ``proto`` TXT record), not of the node protocol
# (``mesh.node._linking.PROTOCOL_VERSION``): nodes announcing another version never see each other.
ANNOUNCEMENT_VERSION = 1
RESOLVE_TIMEOUT_MS = 3000
# A TXT string holds 255 bytes, "name=" or "mesh=" included.
_TXT_VALUE_LIMIT = 250


def check_announceable(**values: str) -> None:
    """Refuse values too long for the mDNS TXT records they are announced in.

    Raises:
        UsageError: naming the value that is too long.
    """
    for key, value in values.items():
        size = len(value.encode())
        if size > _TXT_VALUE_LIMIT:
            raise UsageError(
                f"{key} is {size} bytes long; discovery announces it in an mDNS TXT record, which holds "
                f"at most {_TXT_VALUE_LIMIT}"
            )


@dataclass(frozen=True, slots=True)
class Announcement:
    """What one node (or controller) says about itself over mDNS."""

    role: str
    node_id: str
    name: str
    mesh_name: str
    incarnation: str
    ips: tuple[str, ...]
    port: int

    @classmethod
    def of(cls, role: str, node_id: str, name: str, mesh_name: str, addresses: Sequence[str]) -> Announcement:
        """The announcement of one server reachable at ``addresses`` (``host:port``, all one port).

        Raises:
            UsageError: an address is a UNIX socket or does not resolve.
        """
        ips: list[str] = []
        for address in addresses:
            found, port = ip_literals(address)
            ips.extend(ip for ip in found if ip not in ips)
        return cls(role, node_id, name, mesh_name, secrets.token_hex(8), tuple(ips), port)

    @property
    def instance(self) -> str:
        return f"{self.node_id}.{SERVICE_TYPE}"

    @property
    def target(self) -> str:
        """A gRPC target that tries every announced IPv4 address (the IPv6 ones when there is none)."""
        if len(self.ips) == 1:
            return tcp_address(self.ips[0], self.port)
        v4 = [ip for ip in self.ips if ":" not in ip]
        if v4:
            return "ipv4:" + ",".join(f"{ip}:{self.port}" for ip in v4)
        return "ipv6:" + ",".join(f"[{ip}]:{self.port}" for ip in self.ips)

    def properties(self) -> dict[str, str]:
        return {
            "role": self.role,
            "name": self.name,
            "mesh": self.mesh_name,
            "proto": str(ANNOUNCEMENT_VERSION),
            "id": self.node_id,
            "inc": self.incarnation,
        }

    def service_info(self) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            SERVICE_TYPE,
            self.instance,
            port=self.port,
            properties=self.properties(),
            server=f"{self.node_id}.local.",
            parsed_addresses=list(self.ips),
        )

    @classmethod
    def from_info(cls, info: AsyncServiceInfo) -> Announcement | None:
        """The announcement in a resolved service, or None when it is not one of ours."""
        props = info.decoded_properties
        values = [props.get(key) for key in ("role", "id", "name", "mesh", "inc", "proto")]
        ips = tuple(info.parsed_addresses())
        if not all(values) or info.port is None or not ips:
            return None
        role, node_id, name, mesh_name, incarnation, version = (str(v) for v in values)
        if version != str(ANNOUNCEMENT_VERSION):
            logger.warning(
                "mDNS: ignored %s %r of mesh %r: announcement version %s, not %s",
                role,
                name,
                mesh_name,
                version,
                ANNOUNCEMENT_VERSION,
            )
            return None
        return cls(role, node_id, name, mesh_name, incarnation, ips, int(info.port))


class MdnsEndpoint:
    """One zeroconf responder on the chosen interfaces: announces one service and browses the type.

    Create it on the event loop that will run it.
    """

    def __init__(self, interfaces: Sequence[str] | None) -> None:
        chosen: Any = InterfaceChoice.All if interfaces is None else resolve(interfaces)
        self._zc = AsyncZeroconf(interfaces=chosen)
        self._browser: AsyncServiceBrowser | None = None
        self._registration: asyncio.Task[None] | None = None
        self._registered: AsyncServiceInfo | None = None

    def browse(self, on_change: Callable[[str, bool], None]) -> None:
        """Call ``on_change(instance, removed)`` whenever a service of the type appears, changes or
        says goodbye."""

        def changed(zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            on_change(name, state_change is ServiceStateChange.Removed)

        self._browser = AsyncServiceBrowser(
            self._zc.zeroconf, SERVICE_TYPE, handlers=[changed], question_type=DNSQuestionType.QM
        )

    def announce(self, announcement: Announcement) -> None:
        """Register ``announcement`` in the background (probing takes about 1.2 s)."""
        self._registration = asyncio.get_running_loop().create_task(self._register(announcement.service_info()))

    async def _register(self, info: AsyncServiceInfo) -> None:
        try:
            # The first await returns after probing; the task it returns sends the announcements.
            announcing = await self._zc.async_register_service(info)
            self._registered = info
            await announcing
        except Exception as exc:
            logger.warning("mDNS: cannot announce %s: %r", info.name, exc)

    async def resolve(self, instance: str) -> Announcement | None:
        """The announcement of ``instance``, or None when it does not answer or is not ours."""
        info = AsyncServiceInfo(SERVICE_TYPE, instance)
        if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS, question_type=DNSQuestionType.QM):
            return None
        return Announcement.from_info(info)

    async def aclose(self) -> None:
        """Say goodbye (when announced), stop browsing, close the sockets."""
        if self._registration is not None and not self._registration.done():
            self._registration.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._registration
        if self._registered is not None:
            info, self._registered = self._registered, None
            # Like registering: the goodbye is sent by the task the first await returns.
            goodbye = await self._zc.async_unregister_service(info)
            await goodbye
        if self._browser is not None:
            await self._browser.async_cancel()
        await self._zc.async_close()


async def announce_controller(address: str, mesh_name: str, interfaces: Sequence[str] | None) -> MdnsEndpoint:
    """Announce the controller serving on ``address`` to the nodes of ``mesh_name``; ``aclose()`` the
    returned endpoint to withdraw it."""
    check_announceable(mesh_name=mesh_name)
    announcement = Announcement.of(
        CONTROLLER_ROLE, secrets.token_hex(16), "controller", mesh_name, reachable_addresses(address, interfaces)
    )
    endpoint = MdnsEndpoint(interfaces)
    endpoint.announce(announcement)
    return endpoint
