"""The standard gRPC health checking service on every node and controller, asked by a real health client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import BG, NO_RETURN, Global, MeshError
from tests._support.proc import Proc
from tests._support.workers import wait_until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def check(address: str, service: str = "") -> int:
    """The status ``address``'s health service gives for ``service``, asked over a fresh channel."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


@pytest.mark.timeout(60)
def test_a_node_and_the_controller_answer_serving(
    controller: Callable[[], tuple[Proc, int]], peer: Callable[..., tuple[Proc, str]], tmp_path: Path
) -> None:
    _, port = controller()
    controller_address = f"127.0.0.1:{port}"
    socket = tmp_path / "n1.sock"
    _, node_address = peer("--name", "n1", "--listen", f"unix://{socket}", "--host", "127.0.0.1", "--port", str(port))
    assert node_address.startswith("unix:") and node_address.endswith(str(socket))

    assert check(controller_address) == SERVING
    assert check(controller_address, "mesh.v1.Controller") == SERVING
    assert check(node_address) == SERVING
    assert check(node_address, "mesh.v1.Mesh") == SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        check(node_address, "no.such.Service")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.timeout(60)
def test_a_stopping_node_answers_not_serving_during_its_grace(peer: Callable[..., tuple[Proc, str]]) -> None:
    proc, address = peer("--name", "held", "--controller", "--listen", "127.0.0.1:0")
    with Global(process_name="asker", peers=[address], discovery=False) as g:
        g.wait_process("held", timeout=10)
        pending = g.call.gate(1) & BG(receiver="held", timeout=30)
        wait_until(lambda: (g.call.held() & BG(receiver="held")).get(timeout=5) == 1, 10, "the gate call is held")
        assert check(address) == SERVING
        g.call.leave() & NO_RETURN(receiver="held")
        # The held call keeps the node in its stop's grace (5 s): it says so, and still answers.
        wait_until(lambda: check(address) == NOT_SERVING, 4, "NOT_SERVING during the grace")
        assert check(address, "mesh.v1.Mesh") == NOT_SERVING
        with pytest.raises(MeshError):  # whatever the stop ends the held call with
            pending.get(timeout=15)
    assert proc.wait_or_dump(15) == 0
