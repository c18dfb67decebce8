"""Prometheus metrics, scraped over loopback and parsed: a node's own endpoint (``serve_metrics``), and
every node's at the dashboard's ``/metrics``, with the jobs and events services' gauges; real processes."""

from __future__ import annotations

import threading
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesh import FG, Global, UsageError
from mesh.metrics import serve_metrics
from mesh.services import Events, Jobs
from tests._support.dashboard import sample, scrape, start_dashboard, view
from tests._support.proc import Proc
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)


def test_a_node_serves_its_metrics_and_the_dashboard_every_nodes(
    spawn: Callable[..., Proc], peer: Callable[..., tuple[Proc, str]], controller: Callable[[], tuple[Proc, int]]
) -> None:
    _, port = controller()
    peer("--name", "w1", "--host", "127.0.0.1", "--port", str(port))
    _, dashboard = start_dashboard(spawn, port)
    with Global(process_name="main", host="127.0.0.1", port=port) as g:
        g.wait_function("add", 10)
        for i in range(7):
            assert g.call.add(i, 1) & FG == i + 1
        with pytest.raises(Exception, match="nope"):
            g.call.refuse("nope") & FG
        with serve_metrics(g) as server:
            assert server.url.startswith("http://127.0.0.1:")
            mine = scrape(server.url)
        assert sample(mine, "mesh_calls_sent_total", node="main", callback="add", modifier="FG") == 7
        assert sample(mine, "mesh_links", node="main") == 1
        assert sample(mine, "mesh_link_sent_bytes_total", node="main", peer="w1")
        assert sample(mine, "mesh_link_received_bytes_total", node="main", peer="w1")

        def served(callback: str, outcome: str) -> float | None:
            every = scrape(f"{dashboard}metrics")
            return sample(every, "mesh_calls_served_total", node="w1", callback=callback, kind="reply", outcome=outcome)

        wait_until(lambda: served("add", "ok") == 7, 10, "w1's served calls at the dashboard's /metrics")
        every = scrape(f"{dashboard}metrics")
        assert (
            sample(every, "mesh_calls_served_total", node="w1", callback="refuse", kind="reply", outcome="error") == 1
        )
        assert sample(every, "mesh_call_duration_seconds_count", node="w1", callback="add") == 7
        assert sample(every, "mesh_call_duration_seconds_bucket", node="w1", callback="add", le="+Inf") == 7
        assert sample(every, "mesh_calls_in_flight", node="main") is not None
        assert not any(dict(labels).get("node", "").startswith("mesh-dashboard-") for _, labels in every)


def test_jobs_by_state_and_consumer_lag(
    spawn: Callable[..., Proc], controller: Callable[[], tuple[Proc, int]], tmp_path: Path
) -> None:
    _, port = controller()
    mesh_serve(spawn, "jobs", port, "--path", str(tmp_path / "jobs.db"), name="jobs")
    mesh_serve(spawn, "events", port, "--path", str(tmp_path / "events"), name="events")
    _, dashboard = start_dashboard(spawn, port)
    release = threading.Event()
    with Global(process_name="main", host="127.0.0.1", port=port) as g:
        g.wait_function("jobs.submit", 10)
        g.wait_function("events.publish", 10)
        g.register(abs, name="later")
        # Its time has not come: it waits, queued.
        Jobs(g).submit("later", -1, eta=3600) & FG
        events = Events(g)

        def handle(event: Any) -> None:
            release.wait(30)

        events.subscribe("orders", handle, group="billing")
        for n in range(4):
            events.publish("orders", n) & FG

        def metric(name: str, **labels: str) -> float | None:
            return sample(scrape(f"{dashboard}metrics"), name, **labels)

        wait_until(lambda: metric("mesh_jobs", node="jobs", service="jobs", state="queued") == 1, 10, "a queued job")
        wait_until(lambda: metric("mesh_events_published", node="events", topic="orders") == 4, 10, "4 events")
        wait_until(
            lambda: (metric("mesh_events_lag", node="events", topic="orders", group="billing") or 0) >= 3, 10, "lag"
        )
        release.set()
        wait_until(lambda: metric("mesh_events_lag", node="events", topic="orders", group="billing") == 0, 15, "no lag")


def test_metrics_beyond_loopback_need_a_protected_mesh() -> None:
    with Global(process_name="open", init_controller=True) as g, pytest.raises(UsageError, match="metrics"):
        serve_metrics(g, host="0.0.0.0")


def test_the_dashboard_without_prometheus_client_says_which_extra_to_install(
    spawn: Callable[..., Proc], controller: Callable[[], tuple[Proc, int]], tmp_path: Path
) -> None:
    (tmp_path / "prometheus_client").mkdir()
    (tmp_path / "prometheus_client" / "__init__.py").write_text("raise ImportError('not installed here')\n")
    _, port = controller()
    _, dashboard = start_dashboard(spawn, port, extra_env={"PYTHONPATH": str(tmp_path)})
    assert view(dashboard)["nodes"] == []
    with pytest.raises(urllib.error.HTTPError, match="501") as refused:
        scrape(f"{dashboard}metrics")
    assert "grpcmesh[metrics]" in refused.value.read().decode()
