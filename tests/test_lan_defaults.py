"""Defaults that take a node past this machine (issue 18, items 2, 8 and 13).

A node given a controller on another host listens on its own address that routes there; a node
with only a mesh secret finds its mesh on the LAN; a bad listen address or controller host, or a
port in use, fails with an error that names the cause. Multi-host cases run on a LAN of network
namespaces (tests/_support/lan.py); in this machine's own namespace only loopback and UNIX sockets are used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import FG, AddressInUse, Global, UsageError
from tests._support.lan import Lan, line_time, ready_time, unique
from tests._support.proc import MESH_COMMAND, ROOT, Proc, free_port

pytestmark = pytest.mark.timeout(90)


def _call_times(node: Proc, targets: list[str]) -> list[float]:
    """When ``node`` first called ``ping_<target>`` of each target."""
    times = {}
    while len(times) < len(targets):
        _, stamp, target = node.wait_line("CALLOK").split()
        times[target] = float(stamp)
    assert set(times) == set(targets), node.text()
    return list(times.values())


# ---------------------------------------------------------------------- item 2: a controller on another host


def test_nodes_on_two_hosts_join_a_controller_on_a_third_with_default_arguments(lan: Callable[[int], Lan]) -> None:
    network = lan(3)
    ctl = network.run_in(1, MESH_COMMAND, "controller", "--host", "169.254.77.1", "--port", "7000")
    ctl.wait_line("controller listening")
    where = ("--host", "169.254.77.1", "--port", "7000")
    r2 = network.default_node(2, "r2", *where, "--probe", "r3")
    r3 = network.default_node(3, "r3", *where, "--probe", "r2")
    assert r2.wait_line("READY").split()[2].startswith("169.254.77.2:"), "r2 listens where it routes to the controller"
    assert r3.wait_line("READY").split()[2].startswith("169.254.77.3:")
    for node in (r2, r3):
        node.wait_line("CALLOK")


def test_a_node_given_only_a_peer_on_another_host_listens_where_it_routes_to_it(lan: Callable[[int], Lan]) -> None:
    network = lan(2)
    target = network.node(1, "p1", "--listen", "169.254.77.1:7100", "--probe", "p2", mesh="default")
    target.wait_line("READY")
    node = network.default_node(2, "p2", "--peer", "169.254.77.1:7100", "--probe", "p1")
    assert node.wait_line("READY").split()[2].startswith("169.254.77.2:"), "not a UNIX socket the peer cannot dial"
    for proc in (node, target):
        proc.wait_line("CALLOK")


def _outcome_in(network: Lan, code: str) -> str:
    """What ``code``, run on host 1, printed or raised (its last line of output)."""
    proc = network.run_in(1, sys.executable, "-m", "tests._support.run_code", "-c", code)
    assert proc.popen.wait(30) is not None
    return proc.text().strip().splitlines()[-1]


def test_a_listen_address_not_of_this_host_and_a_bad_controller_host_name_their_cause(
    lan: Callable[[int], Lan],
) -> None:
    network = lan(1)
    cases = {
        "listen": 'Global("n", listen="169.254.77.9:0")',
        "unresolvable": 'Global("n", host="no-such-host.invalid", port=7000)',
        "unroutable": 'Global("n", host="10.1.2.3", port=7000)',
    }
    for case, construct in cases.items():
        code = f"from mesh import Global, MeshError\ntry:\n    {construct}\nexcept MeshError as exc:\n"
        code += "    print(type(exc).__name__, exc)"
        outcome = _outcome_in(network, code)
        assert "in use" not in outcome, outcome
        if case == "listen":
            assert outcome.startswith("UsageError cannot listen on 169.254.77.9:0"), outcome
            assert "169.254.77.9 is not an address of this host" in outcome
        elif case == "unresolvable":
            assert outcome.startswith("ControllerUnavailable the controller's host 'no-such-host.invalid' does not")
        else:
            assert outcome.startswith("ControllerUnavailable no route from this host to the controller's host"), outcome


# ---------------------------------------------------------------------- item 13: the LAN with only a secret


def test_three_hosts_with_only_a_secret_call_each_other_within_3_s(lan: Callable[[int], Lan]) -> None:
    network = lan(3)
    assert "MESH_NAME" not in network.env and network.env["MESH_SECRET"]
    names = ["a", "b", "c"]
    nodes = [
        network.default_node(i, name, "--probe", *[other for other in names if other != name])
        for i, name in enumerate(names, 1)
    ]
    readies = [node.wait_line("READY").split() for node in nodes]
    for i, (_, _, address) in enumerate(readies, 1):
        assert address.startswith(f"169.254.77.{i}:"), "on the LAN, a node names its concrete address"
    last_start = max(float(ready[1]) for ready in readies)
    for node, name in zip(nodes, names, strict=True):
        called = max(_call_times(node, [other for other in names if other != name]))
        assert called - last_start < 3.0, f"{name} called both others {called - last_start:.2f} s after the last start"


def test_a_controller_run_with_only_a_secret_is_announced_and_joined(lan: Callable[[int], Lan]) -> None:
    network = lan(3)
    first = network.default_node(1, "a", "--controller", "--probe", "c")
    controller = first.wait_line("CONTROLLER").split()[1]
    assert controller.startswith("0.0.0.0:"), controller
    port = controller.rsplit(":", 1)[1]
    ready_time(first)
    others = [network.default_node(2, "b", "--probe", "a"), network.default_node(3, "c", "--probe", "a")]
    for node in [first, *others]:
        line_time(node, "CALLOK")
    ls = network.run_in(1, MESH_COMMAND, "ls", "--host", "169.254.77.1", "--port", port)
    assert ls.popen.wait(20) == 0, ls.text()
    listed = {line.split()[0] for line in ls.text().splitlines()[1:] if line.strip()}
    assert {"a", "b", "c"} <= listed, ls.text()


# ---------------------------------------------------------------------- this machine: no secret, MESH_NAME, ports


def test_without_a_secret_the_default_stays_on_unix_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESH_SECRET", raising=False)
    with Global("local", init_controller=True) as g:
        assert g.address.startswith("unix:") and g.controller_address.startswith("unix:")


def test_the_mesh_name_comes_from_mesh_name_in_the_environment(
    spawn: Callable[..., Proc], monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh = unique("m")
    options = ["--name", "peer", "--mesh", mesh, "--interfaces", "127.0.0.1", "--listen", "127.0.0.1:0"]
    spawn(*options, module="tests._support.lan_node").wait_line("READY")
    monkeypatch.setenv("MESH_NAME", mesh)
    with Global("here", discovery=True, interfaces=["127.0.0.1"]) as g:
        g.wait_function("ping_peer", timeout=5)
        assert g.call.ping_peer() & FG(timeout=5) == "peer"


def test_a_port_in_use_raises_address_in_use_and_grpc_prints_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = (
            "from mesh import AddressInUse, Global\n"
            f"try:\n    Global('n', init_controller=True, listen='127.0.0.1:{port}')\n"
            "except AddressInUse as exc:\n    print('raised', exc)\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
        done = subprocess.run(
            [sys.executable, "-m", "tests._support.run_code", "-c", code],
            cwd=ROOT,
            env={**env, "TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.stdout.startswith(f"raised cannot listen on 127.0.0.1:{port} for the node 'n': port {port} is in use")
    assert done.stderr == "", done.stderr


def test_a_unix_socket_in_use_raises_address_in_use(tmp_path: Path) -> None:
    with (
        Global("first", init_controller=True, listen=f"unix:{tmp_path / 'n.sock'}"),
        pytest.raises(AddressInUse, match="another process is serving there"),
    ):
        Global("second", init_controller=True, listen=f"unix:{tmp_path / 'n.sock'}")


def test_a_unix_socket_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot listen on unix:.*missing/n\.sock.*No such file"):
        Global("n", init_controller=True, listen=f"unix:{tmp_path / 'missing' / 'n.sock'}")


def test_the_controller_port_in_use_raises_address_in_use() -> None:
    port = free_port()
    with (
        Global("first", init_controller=True, host="127.0.0.1", port=port),
        pytest.raises(AddressInUse, match=f"127.0.0.1:{port} for the controller: port {port} is in use"),
    ):
        Global("second", init_controller=True, host="127.0.0.1", port=port)
