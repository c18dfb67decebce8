"""A node's side of the controller: join, keep the membership view current, rejoin after outages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import grpc

from . import _transport
from ._handshake import authentication_error, join_as_node
from ._membership import CONTROLLER
from ._proto import mesh_pb2 as pb
from ._proto import mesh_pb2_grpc as pb_grpc
from .errors import AuthenticationError, ControllerUnavailable, MeshError, NameTaken

if TYPE_CHECKING:
    from ._node import Node

logger = logging.getLogger("mesh")

RETRY_MIN = 0.1
RETRY_MAX = 1.0


class ControllerClient:
    """Keeps one ``Controller.Join`` stream open for its node, reconnecting whenever it breaks."""

    def __init__(self, node: Node, address: str) -> None:
        self._node = node
        self._address = address
        self._first_join: asyncio.Future[None] = node.loop.create_future()
        self._stream: Any = None
        self._task: asyncio.Task[None] | None = None
        self._last_error = "not tried yet"
        self._joined_last_session = False
        self._callbacks_sent: list[str] = []

    async def start(self) -> None:
        """Join, waiting up to the node's ``connect_timeout`` for the first membership snapshot.

        Raises:
            ControllerUnavailable: no controller answered in time.
            NameTaken: the controller refused the node's process name.
        """
        self._task = self._node.spawn(self._run())
        timeout = self._node.config.connect_timeout
        try:
            await asyncio.wait_for(asyncio.shield(self._first_join), timeout)
        except asyncio.TimeoutError:
            self._task.cancel()
            raise ControllerUnavailable(
                f"no controller answered at {self._address} within {timeout} s ({self._last_error}); "
                "start one (mesh controller, or Global(init_controller=True)) or check host and port"
            ) from None
        except MeshError:
            self._task.cancel()
            raise

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def announce(self) -> None:
        """Tell the controller this node's callbacks changed."""
        if self._stream is not None:
            self._node.spawn(self._write_member(self._stream))

    def _member(self) -> pb.Member:
        node = self._node
        return pb.Member(
            node_id=node.node_id,
            name=node.name,
            address=node.address,
            callbacks=node.registry.names(),
            mesh_name=node.config.mesh_name,
        )

    async def _write_member(self, stream: Any) -> None:
        member = self._member()
        self._callbacks_sent = list(member.callbacks)
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await stream.write(pb.MemberUpdate(member=member))

    async def _run(self) -> None:
        delay = RETRY_MIN
        while True:
            try:
                await self._session()
                self._last_error = "the controller closed the stream"
            except grpc.aio.AioRpcError as exc:
                refusal = authentication_error(
                    exc, f"the controller at {self._address}", self._node.config.tls is not None
                )
                if refusal is None:
                    self._last_error = f"{exc.code().name}: {exc.details()}"
                elif self._refused(refusal):
                    return
            except (NameTaken, AuthenticationError) as exc:
                if self._refused(exc):
                    return
            except ControllerUnavailable as exc:
                self._last_error = str(exc)
            delay = RETRY_MIN if self._joined_last_session else min(delay * 2, RETRY_MAX)
            await asyncio.sleep(delay)

    def _refused(self, exc: MeshError) -> bool:
        """Fail the first join with ``exc`` (True); later, log it and keep trying (False)."""
        if not self._first_join.done():
            self._first_join.set_exception(exc)
            return True
        self._last_error = str(exc)
        logger.warning("node %s: the controller refused the rejoin: %s", self._node.name, exc)
        return False

    async def _session(self) -> None:
        node = self._node
        config = node.config
        async with _transport.open_channel(self._address, config.max_message_size, config.tls) as channel:
            stream = pb_grpc.ControllerStub(channel).Join()
            self._joined_last_session = False
            try:
                joined_as = self._member()
                self._callbacks_sent = list(joined_as.callbacks)
                await join_as_node(stream, config.secret, joined_as, self._address)
                while True:
                    event = await stream.read()
                    if event is grpc.aio.EOF:
                        return
                    self._apply(event, stream)
            finally:
                self._stream = None
                stream.cancel()

    def _apply(self, event: pb.MembershipEvent, stream: Any) -> None:
        membership = self._node.membership
        if event.refused:
            raise NameTaken(event.refused)
        if event.HasField("upsert"):
            member = event.upsert
            if member.node_id != self._node.node_id:
                membership.upsert(member.node_id, member.name, member.address, member.callbacks, CONTROLLER)
        elif event.removed:
            membership.drop(event.removed, CONTROLLER)
        else:
            membership.replace_source(
                CONTROLLER,
                [
                    (m.node_id, m.name, m.address, m.callbacks)
                    for m in event.snapshot
                    if m.node_id != self._node.node_id
                ],
            )
            self._stream = stream
            self._joined_last_session = True
            if not self._first_join.done():
                self._first_join.set_result(None)
            elif self._callbacks_sent != self._node.registry.names():
                self.announce()
