"""The ``mesh`` console script: --version, ``mesh controller -v``'s output, and ``mesh ls`` (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

from mesh.cli import ADDRESS_WIDTH
from tests._support.certs import Authority
from tests._support.proc import MESH_COMMAND, Proc, free_port
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


def _mesh(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MESH_COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=40,
        env={**os.environ, "TMPDIR": str(tmp_path), **(env or {})},
    )


def _start_controller(spawn: Callable[..., Proc], *args: str) -> Proc:
    ctl = spawn("controller", "-v", *args, module="mesh")
    ctl.wait_line("controller listening on")
    return ctl


def test_version_is_the_installed_packages(tmp_path: Path) -> None:
    done = _mesh(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout == f"mesh {version('grpcmesh')}\n", done.stdout + done.stderr


def test_building_the_parser_imports_no_part_of_the_benchmark() -> None:
    code = (
        "import sys; from mesh.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('mesh.bench')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=40)
    assert done.returncode == 0 and done.stdout == "[]\n", done.stdout + done.stderr


def test_bench_help_shows_the_benchmarks_options_and_its_mistakes_are_named(tmp_path: Path) -> None:
    done = _mesh(tmp_path, "bench", "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: mesh bench"), done.stdout + done.stderr
    for option in ("--runs", "--rows", "--transports", "--broadcast-nodes"):
        assert option in done.stdout
    wrong = _mesh(tmp_path, "bench", "--no-such-option")
    assert wrong.returncode == 2 and "mesh bench: error: unrecognized arguments: --no-such-option" in wrong.stderr
    other = _mesh(tmp_path, "ls", "--runs", "3")
    assert other.returncode == 2 and "mesh: error: unrecognized arguments: --runs 3" in other.stderr, other.stderr


def test_controller_verbose_prints_its_listening_line_once(spawn: Callable[..., Proc]) -> None:
    ctl = _start_controller(spawn)
    spawn("--name", "member").wait_line("READY")
    wait_until(lambda: "member joined: member" in ctl.text(), 10, "the join logged")
    assert ctl.text().count("controller listening on") == 1, ctl.text()


def test_ls_lists_without_joining_and_says_when_nothing_is_there(spawn: Callable[..., Proc], tmp_path: Path) -> None:
    ctl = _start_controller(spawn)
    empty = _mesh(tmp_path, "ls")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == f"no nodes have joined the controller at unix:{tmp_path}/grpcmesh/controller.sock\n"

    # The nodes' UNIX sockets under the test's temp dir have long paths: the columns stay in place.
    addresses = [spawn("--name", name).wait_line("READY").split()[1] for name in ("one", "two")]
    assert all(len(address) > ADDRESS_WIDTH for address in addresses)
    listing = _mesh(tmp_path, "ls")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["NAME", "one", "two"]
    column = lines[0].index("CALLBACKS")
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines), listing.stdout
    for line, address in zip(lines[1:], addresses, strict=True):
        shown = line.split()[1]
        assert len(shown) == ADDRESS_WIDTH and "..." in shown and address.endswith(shown.split("...")[1])

    # The listings were no members: the controller logged the two nodes' joins and nothing of them.
    time.sleep(0.3)
    assert "mesh-ls" not in ctl.text() and ctl.text().count("member ") == 2, ctl.text()


def test_ls_watch_follows_joins_and_leaves(spawn: Callable[..., Proc]) -> None:
    _start_controller(spawn)
    watch = spawn("ls", "--watch", module="mesh")
    watch.wait_line("no nodes have joined")
    node = spawn("--name", "visitor")
    watch.wait_line("visitor")
    node.signal(signal.SIGTERM)
    watch.wait_line("no nodes have joined", timeout=10)


def test_ls_takes_the_secret_as_the_controller_does(spawn: Callable[..., Proc], tmp_path: Path) -> None:
    _start_controller(spawn, "--secret", "s3")
    spawn("--name", "member", "--secret", "s3").wait_line("READY")
    listed = _mesh(tmp_path, "ls", "--secret", "s3")
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[0] == "member", listed.stderr
    from_env = _mesh(tmp_path, "ls", env={"MESH_SECRET": "s3"})
    assert from_env.stdout == listed.stdout
    refused = _mesh(tmp_path, "ls", "--secret", "wrong")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("mesh ls: ") and "secret" in refused.stderr and "Traceback" not in refused.stderr


def test_ls_takes_the_tls_options_as_the_controller_does(spawn: Callable[..., Proc], tmp_path: Path) -> None:
    authority = Authority.create("grpcmesh test CA")
    port = free_port()

    def files(name: str) -> list[str]:
        tls = authority.tls(name, tmp_path / name)
        return ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--tls-ca", str(tls.ca)]

    _start_controller(spawn, "--host", "127.0.0.1", "--port", str(port), *files("controller"))
    listed = _mesh(tmp_path, "ls", "--host", "127.0.0.1", "--port", str(port), *files("ls"))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("no nodes have joined the controller at 127.0.0.1:")
    half = _mesh(tmp_path, "ls", "--host", "127.0.0.1", "--port", str(port), *files("ls")[:2])
    assert half.returncode == 2 and half.stderr == "mesh ls: --tls-cert, --tls-key and --tls-ca go together\n"


def test_ls_by_discovery_says_when_nothing_is_found(tmp_path: Path) -> None:
    mesh = f"empty-{os.getpid()}-{time.monotonic_ns()}"
    done = _mesh(tmp_path, "ls", "--mesh", mesh, "--interfaces", "127.0.0.1", "--wait", "0.2")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"no nodes of mesh {mesh!r} found by discovery within 0.2 s\n"
