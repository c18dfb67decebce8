"""``Global``: the entry point that runs this process's node (and optionally the controller)."""

from __future__ import annotations

import asyncio
import atexit
import secrets
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import UsageError
from ..membership._placement import place
from ..node._config import NodeConfig
from ..node._member_hooks import MemberHook
from ..node._node import member_list
from ..wire import _interfaces, _transport
from ..wire._security import TLSConfig, resolve_secret
from ._call import CallRoot
from ._hosting import Hosting, stop_at_exit
from ._session import in_async_code, run_on


class Global:
    """This process's place in the mesh: runs a node (and optionally the controller) and makes calls.

    In a sync program the node runs on an event loop in a background thread and the constructor
    returns once the node has joined. Created inside a running event loop (an async program), the
    node runs on that loop; it starts in the background and calls wait for it.

    Args:
        process_name: this node's name, unique in the mesh; random when omitted.
        init_controller: also run the controller in this process.
        init_node: run a node (False with ``init_controller=True`` runs only the controller).
        host: the controller's host. With neither ``host`` nor ``port`` nor ``peers``, the mesh is
            this machine's: the controller is a UNIX socket, ``<temp dir>/grpcmesh/controller.sock``;
            with a mesh secret (``secret`` or ``$MESH_SECRET``) it is the LAN instead: ``discovery``
            turns on and no controller is needed (one announced there is joined).
        port: the controller's port; with ``init_controller`` and no port, a free one is picked.
        listen: this node's own address, ``host:port`` (port 0 picks one) or ``unix:/path``.
            Default: port 0 on the address of this host that routes to the controller's ``host``
            (or to ``peers``; ``host`` itself when it is this machine's), a UNIX socket when the
            controller or every peer is on this machine, and on the LAN (``discovery`` without
            ``host`` or ``port``) the one address of ``interfaces``, else ``0.0.0.0:0``, announced
            as the concrete addresses of the interfaces.
        mesh_name: nodes of different mesh names refuse each other's links (default:
            ``$MESH_NAME``, else ``"default"``).
        peers: addresses of nodes to link to directly, with or without a controller.
        discovery: find the other nodes of ``mesh_name`` on the LAN over mDNS (zeroconf), announce
            this node (and a controller run here), and join a controller announced there (see
            docs/discovery.md). Default: on when there is a mesh secret and neither ``host``,
            ``port`` nor ``peers``.
        interfaces: where discovery runs: IP addresses of this host or interface names
            (default: every interface).
        max_message_size: largest encoded argument or result in bytes (default 128 MiB); larger
            ones fail with :class:`~mesh.errors.PayloadTooLarge` on the side that sends them.
        max_workers: threads that run sync callbacks.
        connect_timeout: seconds to wait for the controller at start (default 30). A slow
            controller is retried, with backoff and jitter, until then; an address that refuses
            the connection (nothing listens there) fails at once.
        stop_grace: seconds :meth:`stop` lets running calls finish.
        secret: the mesh secret (default: ``$MESH_SECRET``). Every link and every join proves
            knowledge of it (HMAC challenge-response) before any payload is decoded; peers without
            it are refused with :class:`~mesh.errors.AuthenticationError`. It authenticates but
            does not encrypt: use ``tls`` on untrusted networks.
        tls: mutual TLS for links and the controller (:class:`TLSConfig`).
        choice: how a call that names no receiver picks among the nodes offering its callback:
            ``"least_busy"`` (default), the one with the fewest calls in flight on this node's link
            to it, ties at random; or ``"random"``.

    Raises:
        UsageError: the arguments contradict each other, a non-loopback address is to be
            served without ``secret`` or ``tls``, or ``listen`` is not an address of this host.
        AddressInUse: another process listens on ``listen`` (or the controller's address).
        AuthenticationError: the controller refused this node's proof, or this node refused its.
        ControllerUnavailable: the controller's ``host`` does not resolve or has no route from here, or
            its address refused the connection (at once), or no controller answered within
            ``connect_timeout`` (sync programs).
        NameTaken: another live node has ``process_name`` (sync programs).
    """

    def __init__(
        self,
        process_name: str | None = None,
        init_controller: bool = False,
        init_node: bool = True,
        host: str | None = None,
        port: int | None = None,
        *,
        listen: str | None = None,
        mesh_name: str | None = None,
        peers: Sequence[str] = (),
        max_message_size: int = _transport.DEFAULT_MAX_MESSAGE_SIZE,
        max_workers: int = 32,
        connect_timeout: float = 30.0,
        stop_grace: float = 5.0,
        secret: str | bytes | None = None,
        tls: TLSConfig | None = None,
        discovery: bool | None = None,
        interfaces: Sequence[str] | None = None,
        choice: str = "least_busy",
    ) -> None:
        if not init_node and not init_controller:
            raise UsageError("Global needs init_node or init_controller (or both)")
        if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
            raise UsageError(f"port must be an integer from 0 to 65535, not {port!r}")
        if init_node and not init_controller and host is not None and not port and not peers:
            raise UsageError(f"port is needed to reach the controller on host {host!r}")
        self.process_name = process_name or f"node-{secrets.token_hex(4)}"
        self.init_controller = init_controller
        self.init_node = init_node
        interfaces = _interfaces.as_tuple(interfaces)
        node_id = secrets.token_hex(16)
        resolved_secret = resolve_secret(secret)
        placement = place(
            host=host,
            port=port,
            listen=listen,
            peers=peers,
            discovery=discovery,
            interfaces=interfaces,
            init_controller=init_controller,
            has_secret=resolved_secret is not None,
            node_id=node_id,
            mesh_name=mesh_name,
        )
        config = NodeConfig(
            name=self.process_name,
            listen=placement.listen,
            mesh_name=placement.mesh_name,
            peers=tuple(peers),
            max_message_size=max_message_size,
            max_workers=max_workers,
            connect_timeout=connect_timeout,
            node_id=node_id,
            secret=resolved_secret,
            tls=tls,
            discovery=placement.discovery,
            interfaces=interfaces,
            choice=choice,
        )
        self._hosting = Hosting(
            config,
            placement,
            init_controller=init_controller,
            init_node=init_node,
            stop_grace=stop_grace,
            owner=weakref.ref(self),
        )
        self._session = self._hosting.session
        self.call = CallRoot(self._session)
        self._hosting.start_in_thread()
        atexit.register(stop_at_exit, weakref.ref(self._hosting))

    # ------------------------------------------------------------------ lifecycle

    @property
    def stop_grace(self) -> float:
        """Seconds :meth:`stop` lets running calls finish."""
        return self._hosting.stop_grace

    @stop_grace.setter
    def stop_grace(self, seconds: float) -> None:
        self._hosting.stop_grace = seconds

    @property
    def node_name(self) -> str:
        """This node's name (``process_name``)."""
        return self.process_name

    @property
    def max_message_size(self) -> int:
        """The largest encoded argument or result this node sends or takes, in bytes."""
        return self._hosting.config.max_message_size

    @property
    def address(self) -> str:
        """The address this node listens on (empty until it has started)."""
        node = self._session.node
        return node.address if node is not None else ""

    @property
    def protected(self) -> bool:
        """Whether this node asks its peers for the mesh secret or a TLS certificate: what it may serve
        beyond loopback (its metrics, the dashboard) depends on it."""
        return self._hosting.config.secret is not None or self._hosting.config.tls is not None

    @property
    def controller_address(self) -> str:
        """The controller's address."""
        return self._hosting.controller_address

    def stop(self) -> Any:
        """Leave the mesh and stop the node (and controller) of this process. Idempotent.

        Running calls get ``stop_grace`` seconds to finish; calls still pending then fail with
        :class:`~mesh.errors.PeerUnavailable` on their callers. The streams this node takes (STREAM)
        end at once: each gives the items already here, then raises :class:`~mesh.errors.NodeStopped`,
        and its callee's generator is closed. In sync code this blocks until done;
        in async code it returns an awaitable (which may be ignored: the stop goes on).
        """
        if in_async_code():
            return asyncio.ensure_future(self.stop_async())
        self._hosting.stop()
        return None

    async def stop_async(self) -> None:
        """The async form of :meth:`stop`."""
        await self._hosting.stop_async()

    def join(self) -> None:
        """Block until this Global is stopped (by :meth:`stop` from another thread, or Ctrl-C)."""
        if in_async_code():
            raise UsageError("join() would block the event loop; use await g.join_async()")
        try:
            while not self._session.stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop()

    async def join_async(self) -> None:
        """Wait until this Global is stopped, without blocking the event loop."""
        # Polled: the stop may come from any thread or event loop, and a thread blocked on an event
        # would keep asyncio.run() from returning.
        while not self._session.stopped.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)

    def __enter__(self) -> Global:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Global:
        await run_on(self._session.portal, _shielded(self._session.started))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_async()

    # ------------------------------------------------------------------ waiting and looking

    def wait_process(self, name: str, timeout: float | None = None) -> Any:
        """Wait until a node named ``name`` is in the mesh (awaitable in async code).

        Raises:
            CallTimeout: it did not join within ``timeout`` seconds.
        """
        return self._session.wait(lambda n: n.wait_process(name), timeout, f"process {name!r} did not join the mesh")

    def wait_function(self, name: str, timeout: float | None = None) -> Any:
        """Wait until some node offers a callback named ``name`` (awaitable in async code).

        Raises:
            CallTimeout: none offered it within ``timeout`` seconds.
        """
        return self._session.wait(lambda n: n.wait_function(name), timeout, f"no node offered callback {name!r}")

    # ------------------------------------------------------------------ callbacks of this node

    def register(
        self, target: Any, *, name: str | None = None, prefix: str | None = None, inline: bool = False
    ) -> list[str]:
        """Offer a function or an instance's public methods from this Global's node only; return the names.

        A function is offered under ``name`` (dots allowed: ``"kv.set"`` is called as
        ``g.call.kv.set(...)``), or its own name; an instance's public methods under theirs.
        ``prefix="kv"`` puts every name under ``kv.``. Unlike ``@callback``, which every node of the
        process offers, only this node offers, serves and announces these. The mesh learns of them
        at once; ``inline`` is as for ``@callback``.

        Raises:
            UsageError: ``target`` is a class, or an instance given ``name``; a name is not valid,
                or is taken by another callback of this node or process.
        """
        return self._hosting.callbacks.offer(target, name, prefix, inline)

    def unregister(self, target: Any) -> list[str]:
        """Stop offering what :meth:`register` offered: a name, a prefix, a function or an instance.

        A prefix (``"kv"``) withdraws every ``kv.*`` name; a function or an instance, every name it
        was registered under. The mesh learns of it at once: calls of a withdrawn name then fail
        with :class:`~mesh.errors.UnknownCallback`. Returns the names withdrawn.

        Raises:
            UsageError: this node registered nothing that matches ``target``.
        """
        return self._hosting.callbacks.withdraw(target)

    def members(self) -> list[dict[str, Any]]:
        """The members this node knows (the controller's, for a controller-only Global): name, node id,
        address and callbacks of each."""
        controller = self._hosting.controller
        if self._session.node is None and controller is not None:
            return member_list(controller.service.member_views())
        node = self._session.ready_node()
        return [] if node is None else member_list(node.membership.members())

    def on_node_join(self, fn: MemberHook) -> MemberHook:
        """Call ``fn(name)`` whenever another node enters this node's view, with the member's process name
        (a ``str``); usable as a decorator. Also named ``on_node_connect`` (daffi 2.x).

        It fires for each node this node learns of after ``fn`` is added: the members already there when
        this node joins the mesh (when ``fn`` is added before, as in async code or with a decorator
        before ``Global``), and every later arrival. ``fn`` may be sync or async: it is called from the
        node's loop, an async one as a task of its own, a sync one in the node's worker threads, so
        neither holds up the node; an exception it raises is logged.
        """
        return self._hosting.member_hooks.add(self._hosting.member_hooks.join, fn, "on_node_join")

    def on_node_leave(self, fn: MemberHook) -> MemberHook:
        """Call ``fn(name)`` whenever another node leaves this node's view (it stopped, died or was dropped),
        with the member's process name; as :meth:`on_node_join` otherwise. Also named
        ``on_node_disconnect`` (daffi 2.x). Not called for the members left behind when this node stops.
        """
        return self._hosting.member_hooks.add(self._hosting.member_hooks.leave, fn, "on_node_leave")

    on_node_connect = on_node_join
    on_node_disconnect = on_node_leave

    def statistics(self) -> dict[str, int]:
        """Counters of this node: members, links, calls in flight."""
        node = self._session.ready_node()
        return {} if node is None else node.statistics()

    def add_gauges(self, source: Callable[[], Iterable[tuple[str, dict[str, str], float]]]) -> None:
        """Report the gauges ``source()`` gives (rows of metric name, labels, value) with this node's
        statistics: the ``mesh.stats`` snapshot, the dashboard and the Prometheus metrics read them.

        ``source`` is called on the node's loop each time a snapshot is taken, so it must be quick and
        must not block; the jobs service reports its jobs by state this way, the events service its
        consumer lag.
        """
        self._session.stats.add_gauges(source)

    def remove_gauges(self, source: Callable[[], Iterable[tuple[str, dict[str, str], float]]]) -> None:
        """Stop reporting the gauges of ``source`` (see :meth:`add_gauges`); nothing happens if it was not added."""
        self._session.stats.remove_gauges(source)

    def __repr__(self) -> str:
        return f"<Global {self.process_name!r} address={self.address!r}>"


async def _shielded(future: asyncio.Future[Any]) -> Any:
    """Await ``future`` without cancelling it when the awaiting task is cancelled."""
    return await asyncio.shield(future)
