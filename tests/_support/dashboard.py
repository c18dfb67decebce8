"""``mesh dashboard`` as a child process of a test, and reading what it serves."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests._support.proc import Proc

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def start_dashboard(
    spawn: Callable[..., Proc], port: int, *options: str, extra_env: dict[str, str] | None = None
) -> tuple[Proc, str]:
    """``mesh dashboard`` joined to the controller at 127.0.0.1:``port``, polling twice a second, on a
    free loopback port; the process and the page's URL."""
    proc = spawn(
        "dashboard", "--host", "127.0.0.1", "--port", str(port), "--http-port", "0", "--interval", "0.5", *options,
        module="mesh", extra_env=extra_env,
    )  # fmt: skip
    return proc, proc.wait_line("dashboard on").split()[-1]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


def view(page_url: str) -> dict[str, Any]:
    """The dashboard's latest view (``/view.json``)."""
    base, _, query = page_url.partition("?")
    found: dict[str, Any] = json.loads(fetch(f"{base}view.json" + (f"?{query}" if query else "")))
    return found


def scrape(metrics_url: str) -> Samples:
    """Every sample of the Prometheus text at ``metrics_url``, by name and labels."""
    text = fetch(metrics_url).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))
