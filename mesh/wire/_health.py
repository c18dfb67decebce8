"""The standard gRPC health checking service (``grpc.health.v1.Health``) on a node's or controller's server.

Load balancers, orchestrators and ``grpc_health_probe`` ask it whether the process serves: the overall
status (service ``""``) and the status of the one mesh service the server holds (``mesh.v1.Mesh`` on
a node, ``mesh.v1.Controller`` on a controller) are SERVING from the server's start, and NOT_SERVING
from the moment its stop begins, for the whole of the stop's grace.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# The names the health service answers for, besides the overall "".
NODE_SERVICE = "mesh.v1.Mesh"
CONTROLLER_SERVICE = "mesh.v1.Controller"


class Health:
    """The health service added to ``server`` for ``service``; SERVING once :meth:`serving` is awaited."""

    def __init__(self, server: grpc.aio.Server, service: str) -> None:
        self._service = service
        self._servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)

    async def serving(self) -> None:
        """Answer SERVING, for the server and its service."""
        for name in ("", self._service):
            await self._servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stopping(self) -> None:
        """Answer NOT_SERVING from now on, and tell the watchers; the server's stop follows."""
        await self._servicer.enter_graceful_shutdown()
