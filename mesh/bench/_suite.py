"""One run of the suite on one transport: the raw gRPC baseline, the mesh, and peer libraries."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
import time

from . import _loop, _malloc, _mesh, _pipelines, _raw
from ._counts import MESH_GROUPS, MIB, Counts, Transport, free_port
from ._proc import ChildFailed, Children
from ._stats import latency

# Peer libraries compared when importable (never dependencies of grpcmesh): module -> PyPI version wanted.
PEERS = {"daffi": "2.2.1", "Pyro5": None, "rpyc": None}
PEER_TIMEOUT = 600.0


def available_peers() -> list[str]:
    """The peer libraries installed here (daffi only in the version the issue compares with)."""
    found = []
    for module, version in PEERS.items():
        if importlib.util.find_spec(module) is None:
            continue
        if version is not None and importlib.metadata.version(module) != version:
            continue
        found.append(module)
    return found


def run_once(transport: Transport, counts: Counts, groups: set[str], failures: list[str]) -> dict[str, float]:
    """Measure every selected row once; the baseline rows always come first, in the same run.

    A peer library that fails leaves its rows out of this run and says why in ``failures``; a
    failure of the baseline or the mesh ends the benchmark.
    """
    results = _raw_rows(transport, counts, groups)
    if groups & (set(MESH_GROUPS) - {"pipeline"}):
        with Children() as children:
            results.update(_mesh.measure(transport, counts, groups, children))
        if "start" not in groups:
            results.pop("mesh_start", None)
    if "pipeline" in groups:
        with Children() as children:
            results.update(_pipelines.measure(transport, counts, children))
    if transport.name == "tcp":
        for peer in available_peers():
            if peer.lower() in groups:
                results.update(peer_rows(peer, counts, failures))
    return results


def _raw_rows(transport: Transport, counts: Counts, groups: set[str]) -> dict[str, float]:
    max_message = counts.big_bytes + MIB
    with Children() as children:
        started = time.perf_counter()
        server = children.start(
            "mesh.bench._raw", "--listen", transport.raw_listen(), "--max-message", str(max_message)
        )
        settings, own = server.wait_line("MALLOC"), _malloc.apply()
        if settings != own:
            raise RuntimeError(f"the raw echo server's malloc settings are {settings}, this process's {own}")
        address = server.wait_line("READY")
        _loop.run(_raw.first_echo(address, max_message))
        first_answer = time.perf_counter() - started
        stream_server = server.popen.pid if "stream" in groups else None
        results = _loop.run(_raw.measure(address, counts, max_message, "payload" in groups, stream_server))
        if "fg" in groups:
            samples = _raw.sync_round_trips(address, max_message, counts.warmup, counts.calls)
            results.update(latency("raw_sync_seq", samples))
    if "start" in groups:
        results["raw_start"] = first_answer
    return results


def peer_rows(peer: str, counts: Counts, failures: list[str]) -> dict[str, float]:
    """The rows of ``peer`` (its ``mesh.bench._peer_<peer>`` module) in one run; none, and a line in
    ``failures`` naming its error, when its callee or caller exits or hangs."""
    module = f"mesh.bench._peer_{peer.lower()}"
    port = str(free_port())
    try:
        with Children() as children:
            children.start(module, "serve", "--port", port).wait_line("READY")
            client = children.start(module, "measure", "--port", port, "--counts", counts.to_json())
            found = client.wait_line("RESULT", timeout=PEER_TIMEOUT)
    except ChildFailed as exc:
        failure = f"{peer}: {exc.last_line}"
        print(f"bench: {peer} failed; its rows leave this run out: {exc.last_line}", file=sys.stderr, flush=True)
        failures.append(failure)
        return {}
    return {f"{peer.lower()}_{key}": value for key, value in json.loads(found).items()}
