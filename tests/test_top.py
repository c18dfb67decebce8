"""``mesh top``: the live table of nodes and call rates, run for a few rounds against real nodes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import FG, Global
from tests._support.lan import unique
from tests._support.proc import MESH_COMMAND, Proc

pytestmark = pytest.mark.timeout(90)


def test_top_shows_the_nodes_and_their_callbacks(
    peer: Callable[..., tuple[Proc, str]], controller: Callable[[], tuple[Proc, int]]
) -> None:
    _, port = controller()
    peer("--name", "w1", "--host", "127.0.0.1", "--port", str(port))
    with Global(process_name="main", host="127.0.0.1", port=port) as g:
        g.wait_function("add", 10)
        for n in range(5):
            g.call.add(n, 1) & FG
        done = subprocess.run(
            [MESH_COMMAND, "top", "--host", "127.0.0.1", "--port", str(port), "--iterations", "2", "--interval", "0.5"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "160"},
        )
    assert done.returncode == 0, done.stderr
    tables = done.stdout
    assert tables.count("nodes") == 2 and tables.count("callbacks") == 2, tables
    rows = [line.split("│") for line in tables.splitlines() if line.startswith("│")]
    nodes = {cells[1].strip(): cells for cells in rows if len(cells) == 10}
    assert set(nodes) == {"main", "w1"}
    assert nodes["w1"][3].strip() == "up" and nodes["w1"][2].strip().startswith("127.0.0.1:")
    callbacks = {cells[1].strip(): cells for cells in rows if len(cells) == 9}
    assert callbacks["add"][4].strip() == "5"  # its calls
    assert "mesh-top" not in tables and "mesh-dashboard" not in tables


def test_top_refuses_a_bad_iterations() -> None:
    done = subprocess.run([MESH_COMMAND, "top", "--iterations", "0"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--iterations must be 1 or more" in done.stderr


def test_top_finds_the_nodes_by_discovery_without_a_controller(spawn: Callable[..., Proc]) -> None:
    mesh = unique("top")
    node = spawn(
        "--name", "w1", "--mesh", mesh, "--interfaces", "127.0.0.1", "--listen", "127.0.0.1:0",
        module="tests._support.lan_node",
    )  # fmt: skip
    node.wait_line("READY")
    done = subprocess.run(
        [MESH_COMMAND, "top", "--mesh", mesh, "--interfaces", "127.0.0.1", "--iterations", "3", "--interval", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.rsplit("nodes", 1)[1]
    assert "│ w1 " in last and " up " in last, done.stdout


def test_top_without_rich_says_which_extra_to_install(tmp_path: Path) -> None:
    (tmp_path / "rich").mkdir()
    (tmp_path / "rich" / "__init__.py").write_text("raise ImportError('rich is not installed here')\n")
    done = subprocess.run(
        [MESH_COMMAND, "top", "--once"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 2
    assert "pip install 'grpcmesh[top]'" in done.stderr
