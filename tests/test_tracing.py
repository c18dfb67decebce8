"""Tracing (grpcmesh[tracing]): a chain of calls across three node processes is one trace.

A (the caller) calls ``relay`` on B, whose callback calls ``leaf`` on C. Each process exports its spans
to a file; the test reads them all and checks one trace id per chain and the parent links between them.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._support.proc import Proc

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra (grpcmesh[tracing]) is not installed")

TRACED = "tests._support.traced"


def spans_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def one(spans: list[dict[str, Any]], name: str, kind: str) -> dict[str, Any]:
    (found,) = [s for s in spans if s["name"] == name and s["kind"] == f"SpanKind.{kind}"]
    return found


def chain(a: list[dict[str, Any]], b: list[dict[str, Any]], c: list[dict[str, Any]], call: str, relay: str) -> list:
    """The five spans of one chain, root first, after checking they make one trace, each the child of the last."""
    root = one(a, f"root {call}", "INTERNAL")
    trace_id = root["context"]["trace_id"]
    links = [
        root,
        one([s for s in a if s["context"]["trace_id"] == trace_id], relay, "CLIENT"),
        one([s for s in b if s["context"]["trace_id"] == trace_id], relay, "SERVER"),
        one([s for s in b if s["context"]["trace_id"] == trace_id], "leaf", "CLIENT"),
        one([s for s in c if s["context"]["trace_id"] == trace_id], "leaf", "SERVER"),
    ]
    for parent, child in itertools.pairwise(links):
        assert child["parent_id"] == parent["context"]["span_id"], (parent["name"], child["name"])
    return links


@pytest.mark.timeout(90)
def test_a_chain_of_calls_across_three_nodes_is_one_trace(
    controller: Callable[[], tuple[Proc, int]], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    _, port = controller()
    env = {"CONTROLLER_PORT": str(port)}
    files = {name: tmp_path / f"{name}.jsonl" for name in "ABC"}
    b = spawn("B", str(files["B"]), module=TRACED, extra_env=env)
    # C turns tracing on from the environment, not by enable_tracing().
    c = spawn("C", str(files["C"]), module=TRACED, extra_env={**env, "MESH_TRACING": "1"})
    b.wait_line("READY")
    c.wait_line("READY")
    a = spawn("A", str(files["A"]), "relay:1", "relay_async:5", "relay:-1", module=TRACED, extra_env=env)
    a.wait_line("DONE", timeout=60)
    assert "relay 2\n" in a.output and "relay_async 6\n" in a.output
    assert any(line.startswith("relay failed: leaf refuses -1") for line in a.output), a.text()

    spans = {name: spans_of(path) for name, path in files.items()}
    sync = chain(spans["A"], spans["B"], spans["C"], "relay:1", "relay")
    asynchronous = chain(spans["A"], spans["B"], spans["C"], "relay_async:5", "relay_async")
    assert sync[0]["context"]["trace_id"] != asynchronous[0]["context"]["trace_id"]
    assert all(s["status"]["status_code"] == "UNSET" for s in sync + asynchronous)
    assert sync[2]["attributes"]["mesh.peer"] == "A"

    failed = chain(spans["A"], spans["B"], spans["C"], "relay:-1", "relay")
    # The failure shows on every call span of the chain, from C back to A.
    assert [s["status"]["status_code"] for s in failed[1:]] == ["ERROR"] * 4
    assert "leaf refuses -1" in failed[4]["status"]["description"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(60)
def test_off_a_node_and_its_calls_do_not_even_import_opentelemetry() -> None:
    code = (
        "import sys\n"
        "from mesh import FG, Global, callback\n"
        "@callback\n"
        "def add(a, b):\n"
        "    return a + b\n"
        "with Global(process_name='untraced', init_controller=True) as g:\n"
        "    assert g.call.add(1, 2) & FG == 3\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = _python(code)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


@pytest.mark.timeout(60)
def test_enabling_without_opentelemetry_says_which_extra_to_install() -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    code = "import sys; sys.modules['opentelemetry'] = None\nimport mesh\nmesh.enable_tracing()\n"
    done = _python(code)
    assert done.returncode == 1
    assert "UsageError: tracing needs OpenTelemetry: pip install 'grpcmesh[tracing]'" in done.stderr, done.stderr
