"""``mesh top``: the nodes and their call rates, and the busiest callbacks, as a live table (rich)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ._collector import Collector


def tables(view: dict[str, Any]) -> Group:
    """The view as two tables: nodes, then callbacks by calls per second."""
    links: dict[str, int] = {}
    for link in view["links"]:
        for name in (link["a"], link["b"]):
            links[name] = links.get(name, 0) + 1
    nodes = Table(title="nodes", title_justify="left")
    for column in ("node", "address", "status", "uptime s", "calls/s", "errors/s", "in flight", "links"):
        nodes.add_column(column, justify="left" if column in ("node", "address", "status") else "right")
    for node in view["nodes"]:
        nodes.add_row(
            node["name"],
            node["address"],
            node["status"],
            _number(None if "uptime" not in node else round(node["uptime"])),
            *(_number(node.get(key)) for key in ("calls_per_s", "errors_per_s", "in_flight")),
            str(links.get(node["name"], 0)),
        )
    callbacks = Table(title="callbacks", title_justify="left")
    for column in ("callback", "calls/s", "errors/s", "calls", "errors", "p50 ms", "p99 ms"):
        callbacks.add_column(column, justify="left" if column == "callback" else "right")
    for row in sorted(view["callbacks"], key=lambda row: (-row["calls_per_s"], row["name"])):
        keys = ("calls_per_s", "errors_per_s", "calls", "errors", "p50_ms", "p99_ms")
        callbacks.add_row(row["name"], *(_number(row[key]) for key in keys))
    return Group(nodes, callbacks)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, float) and value >= 100 else f"{value:g}"


def run_top(collector: Collector, iterations: int | None, console: Console | None = None) -> None:
    """Poll and show the tables every ``collector.interval`` seconds, ``iterations`` times (None: until
    Ctrl-C). The first poll only starts the rates: each shown table has a round before it."""
    console = console or Console()
    collector.poll()
    done = 0
    if not console.is_terminal:
        while iterations is None or done < iterations:
            time.sleep(collector.interval)
            console.print(tables(collector.poll()))
            done += 1
        return
    with Live(tables(collector.view), console=console, auto_refresh=False) as live:
        while iterations is None or done < iterations:
            time.sleep(collector.interval)
            live.update(tables(collector.poll()), refresh=True)
            done += 1
