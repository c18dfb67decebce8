"""Per-node statistics: calls served by callback, kind and outcome with latency percentiles, calls sent by
modifier, links with bytes in and out; read from a real peer process through its ``mesh.stats`` callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mesh import BG, BROADCAST, FG, NO_RETURN, STREAM, CallTimeout, Global
from mesh.node._stats import BUCKETS, REPLY, NodeStats, percentile
from tests._support.main_node import main_node
from tests._support.proc import Proc
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


def test_peer_counts_what_it_served_and_its_links(peer: Callable[..., tuple[Proc, str]]) -> None:
    g, where = main_node("tcp")
    try:
        peer("--name", "w1", *where)
        g.wait_function("add", 10)
        for _ in range(20):
            assert g.call.add(1, 2) & FG == 3
        assert (g.call.add(3, 4) & BG(timeout=10)).get(timeout=10) == 7
        with pytest.raises(Exception, match="no"):
            g.call.refuse("no") & FG
        g.call.note("x") & NO_RETURN
        assert list(g.call.numbers(3) & STREAM) == [0, 1, 2]
        assert g.call.echo(b"z" * 100_000) & FG == b"z" * 100_000
        with pytest.raises(CallTimeout):
            g.call.async_sleep(30) & FG(timeout=0.2)

        def stats() -> dict[str, Any]:
            snapshot: dict[str, Any] = g.call.mesh.stats() & FG(receiver="w1", timeout=10)
            return snapshot

        wait_until(lambda: {"note", "async_sleep"} <= set(stats()["served"]), 10, "the NO_RETURN and cancelled calls")
        snapshot = stats()
        assert snapshot["name"] == "w1"
        assert "add" in snapshot["callbacks"] and not any(n.startswith("mesh.") for n in snapshot["callbacks"])
        served = snapshot["served"]
        assert served["add"]["counts"] == {"reply/ok": 21}
        assert served["refuse"]["counts"] == {"reply/error": 1}
        assert served["note"]["counts"] == {"no_return/ok": 1}
        assert served["numbers"]["counts"] == {"stream/ok": 1}
        # Cancelled when its caller's timeout passed.
        assert served["async_sleep"]["counts"] == {"reply/error": 1}
        assert "mesh.stats" not in served
        assert sum(served["add"]["buckets"]) == 21
        assert percentile(served["add"]["buckets"], 0.5) is not None
        (link,) = snapshot["links"]
        assert link["peer"] == "main"
        # The 100 kB echo went both ways on this link.
        assert link["bytes_in"] > 100_000 and link["bytes_out"] > 100_000
        assert snapshot["time"] >= snapshot["started"] > 0

        mine = g.call.mesh.stats() & BROADCAST(return_result=True, timeout=10)
        assert set(mine) == {"main", "w1"}
        assert mine["main"]["sent"]["add"] == {"FG": 20, "BG": 1}
        assert mine["main"]["sent"]["numbers"] == {"STREAM": 1}
    finally:
        g.stop()


def test_percentiles_and_gauges() -> None:
    stats = NodeStats()
    for _ in range(90):
        stats.served("f", REPLY, True, 0.001)
    for _ in range(10):
        stats.served("f", REPLY, False, 1.0)
    stats.add_gauges(lambda: [("mesh_jobs", {"state": "queued"}, 3.0)])
    snapshot = stats.snapshot()
    buckets = snapshot["served"]["f"]["buckets"]
    assert snapshot["served"]["f"]["counts"] == {"reply/error": 10, "reply/ok": 90}
    p50, p99 = percentile(buckets, 0.5), percentile(buckets, 0.99)
    assert p50 is not None and 0.0005 < p50 <= 0.0016
    assert p99 is not None and 0.5 < p99 <= 1.7
    assert percentile([0] * (len(BUCKETS) + 1), 0.5) is None
    assert snapshot["gauges"] == [{"name": "mesh_jobs", "labels": {"state": "queued"}, "value": 3.0}]


def test_a_node_without_peers_answers_its_own_stats() -> None:
    with Global(process_name="alone", init_controller=True) as g:
        snapshot = g.call.mesh.stats() & FG
        assert snapshot["name"] == "alone" and snapshot["links"] == []
        # mesh.stats is offered, and left out of what members() shows.
        assert not any(name.startswith("mesh.") for name in g.members()[0]["callbacks"])
