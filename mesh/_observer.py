"""Reading a controller's membership view without becoming a member (``mesh ls``).

An observer joins as a node does, proving the mesh secret, but with a member that has no address:
nobody could dial it, so the controller keeps it out of the view and out of its log, tells no node
about it, and streams it the view, a snapshot then every change.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc

from .errors import ControllerUnavailable
from .membership._membership import Member
from .node._node import member_list
from .wire import _transport
from .wire._handshake import authentication_error, join_as_node
from .wire._proto import mesh_pb2 as pb
from .wire._proto import mesh_pb2_grpc as pb_grpc
from .wire._security import TLSConfig


async def watch_controller(
    address: str, *, mesh_name: str, secret: bytes | None, tls: TLSConfig | None, timeout: float
) -> AsyncIterator[list[dict[str, Any]]]:
    """The members the controller at ``address`` knows, once joined and again after every change.

    Raises:
        ControllerUnavailable: no controller answered within ``timeout`` seconds, or it refused at once.
        AuthenticationError: the controller refused this side's secret or certificate, or it ours.
    """
    me = pb.Member(node_id=secrets.token_hex(16), name=f"mesh-ls-{secrets.token_hex(4)}", mesh_name=mesh_name)
    async with _transport.open_channel(address, _transport.DEFAULT_MAX_MESSAGE_SIZE, tls) as channel:
        stream = pb_grpc.ControllerStub(channel).Join()
        try:
            try:
                snapshot = await asyncio.wait_for(_join(stream, secret, me, address), timeout)
            except asyncio.TimeoutError:
                raise ControllerUnavailable(f"no controller answered at {address} within {timeout} s") from None
            except grpc.aio.AioRpcError as exc:
                refusal = authentication_error(exc, f"the controller at {address}", tls is not None)
                if refusal is not None:
                    raise refusal from None
                raise ControllerUnavailable(
                    f"no controller answered at {address} ({exc.code().name}: {exc.details()}); "
                    "start one with `mesh controller`, or give its --host and --port"
                ) from None
            view = {member.node_id: member for member in snapshot}
            yield _rows(view)
            while True:
                event = await stream.read()
                if event is grpc.aio.EOF:
                    return
                if event.HasField("upsert"):
                    view[event.upsert.node_id] = event.upsert
                elif event.removed:
                    view.pop(event.removed, None)
                yield _rows(view)
        finally:
            stream.cancel()


async def _join(stream: Any, secret: bytes | None, me: pb.Member, address: str) -> list[pb.Member]:
    await join_as_node(stream, secret, me, address)
    event = await stream.read()
    if event is grpc.aio.EOF:
        raise ControllerUnavailable(f"the controller at {address} ended the stream before its view")
    return list(event.snapshot)


def _rows(view: dict[str, pb.Member]) -> list[dict[str, Any]]:
    return member_list(Member(m.node_id, m.name, m.address, frozenset(m.callbacks)) for m in view.values())
