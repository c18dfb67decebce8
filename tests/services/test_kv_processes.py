"""The kv service as ``mesh serve kv`` runs it, in processes of its own: durable across a SIGKILL,
shared by several clients (PyDistributed's example), stopped by a signal, and its start-up errors."""

from __future__ import annotations

import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import FG, Global, MeshError
from mesh.cli import build_parser
from mesh.services import KV
from tests._support.proc import Proc
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(120)

# Large values make each commit take a while, so that writes wait for commits at the kill.
BULK = bytes(256 * 1024)

Spawn = Callable[..., Proc]


def serve_kv(spawn: Spawn, port: int, name: str, *where: str) -> Proc:
    proc = spawn("serve", "kv", *where, "--host", "127.0.0.1", "--port", str(port), "--name", name, module="mesh")
    proc.wait_line("kv serving")
    return proc


def wait_offered(g: Global, name: str) -> None:
    """Wait until ``g`` knows that the node ``name`` offers the kv callbacks."""

    def offered() -> bool:
        return any(m["name"] == name and "kv.watch" in m["callbacks"] for m in g.members())

    wait_until(offered, 10, f"{name} offering kv")


def test_no_write_whose_fg_returned_is_lost_when_the_service_is_killed(
    spawn: Spawn, controller: Callable[[], tuple[Proc, int]], tmp_path: Path
) -> None:
    _, port = controller()
    path = str(tmp_path / "kv.db")
    first = serve_kv(spawn, port, "kv-1", "--path", path)
    acked: list[list[int]] = [[] for _ in range(8)]
    with Global("writer", host="127.0.0.1", port=port) as g:
        g.wait_function("kv.set", timeout=10)
        kv = KV(g)

        def write(writer: int) -> None:
            n = 0
            while True:
                try:
                    kv.set(f"w{writer}:{n}", (n, BULK)) & FG
                except MeshError:
                    return  # the service is gone (PeerUnavailable), or known to be gone (UnknownCallback)
                acked[writer].append(n)
                n += 1

        threads = [threading.Thread(target=write, args=(w,)) for w in range(len(acked))]
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(map(len, acked)) >= 200, 60, "200 acknowledged writes")
        first.signal(signal.SIGKILL)
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)

        serve_kv(spawn, port, "kv-2", "--path", path)
        wait_offered(g, "kv-2")
        stored = set(kv.keys() & FG(receiver="kv-2"))
        lost = [f"w{w}:{n}" for w, ns in enumerate(acked) for n in ns if f"w{w}:{n}" not in stored]
        assert lost == []
        assert kv.get(f"w0:{acked[0][-1]}") & FG(receiver="kv-2") == (acked[0][-1], BULK)


def test_pydistributed_example_four_clients_each_read_what_they_wrote(
    spawn: Spawn, controller: Callable[[], tuple[Proc, int]], tmp_path: Path
) -> None:
    _, port = controller()
    serve_kv(spawn, port, "kv-store", "--path", str(tmp_path / "kv.db"))
    clients = [
        spawn("127.0.0.1", str(port), f"client-{i}", "1000", module="tests._support.kv_client") for i in range(4)
    ]
    for i, client in enumerate(clients):
        client.wait_line(f"DONE client-{i} 1000", timeout=100)
        assert client.wait_or_dump(10) == 0


def test_the_service_stops_on_sigterm_and_sigint_and_keeps_its_keys(
    spawn: Spawn, controller: Callable[[], tuple[Proc, int]], tmp_path: Path
) -> None:
    _, port = controller()
    path = str(tmp_path / "kv.db")
    with Global("user", host="127.0.0.1", port=port) as g:
        kv = KV(g)
        for number, signum in enumerate((signal.SIGTERM, signal.SIGINT)):
            service = serve_kv(spawn, port, f"kv-{number}", "--path", path)
            wait_offered(g, f"kv-{number}")
            kv.incr("starts") & FG(receiver=f"kv-{number}")
            service.signal(signum)
            assert service.wait_or_dump(15) == 0
        service = serve_kv(spawn, port, "kv-last", "--path", path)
        wait_offered(g, "kv-last")
        assert kv.get("starts") & FG(receiver="kv-last") == 2


def test_a_service_that_cannot_start_says_why(spawn: Spawn, tmp_path: Path) -> None:
    bad_path = spawn("serve", "kv", "--path", str(tmp_path / "no" / "kv.db"), module="mesh")
    assert bad_path.wait_or_dump(20) == 2
    assert "cannot open the SQLite file" in bad_path.text()
    no_controller = spawn(
        "serve", "kv", "--path", str(tmp_path / "kv.db"), "--host", "127.0.0.1", "--port", "1", module="mesh"
    )
    assert no_controller.wait_or_dump(40) == 1
    assert "mesh serve kv:" in no_controller.text()


def test_mesh_serve_kv_joins_a_mesh_found_by_discovery(spawn: Spawn, tmp_path: Path) -> None:
    mesh = f"kv-{secrets.token_hex(4)}"
    line = spawn("serve", "kv", "--path", str(tmp_path / "kv.db"), "--mesh", mesh, "--interfaces", "127.0.0.1",
                 "--name", "kv-lan", module="mesh").wait_line("kv serving")  # fmt: skip
    assert "; node kv-lan at 127.0.0.1:" in line
    with Global("here", discovery=True, mesh_name=mesh, interfaces=["127.0.0.1"]) as g:
        wait_offered(g, "kv-lan")
        kv = KV(g)
        kv.set("found", True) & FG
        assert kv.get("found") & FG is True


def test_mesh_serve_kv_takes_one_backend(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["serve", "kv"], ["serve", "kv", "--path", "a.db", "--redis", "redis://127.0.0.1:1/0"]):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(argv)
        assert exited.value.code == 2
        assert "--path" in capsys.readouterr().err
    options = build_parser().parse_args(["serve", "kv", "--path", "a.db", "--host", "10.0.0.1", "--port", "7"])
    assert (options.path, options.redis, options.host, options.port, options.prefix) == (
        "a.db",
        None,
        "10.0.0.1",
        7,
        "kv",
    )
