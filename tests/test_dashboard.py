"""The dashboard in a real browser (Debian's chromium, by playwright): a node that joins shows within 2 s,
one SIGKILLed goes, a failing callback's errors show; the screenshots are docs/dashboard/'s. Then its
rules: loopback unless the mesh is protected, and the token the page asks for with a secret."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mesh import FG, Global, TLSConfig, UsageError
from mesh.dashboard import Collector, DashboardServer, page_token
from mesh.services import Events, Jobs
from tests._support.browser import CHROMIUM, chromium_page
from tests._support.certs import Authority
from tests._support.dashboard import fetch, start_dashboard, view
from tests._support.proc import Proc, free_port
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until

# Where the screenshots go: docs/dashboard/ with MESH_SCREENSHOTS=docs (how docs/dashboard.md's are
# made), else the test's own temporary directory, so that a test run leaves the checkout as it was.
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "dashboard"


def screenshots(tmp_path: Path) -> Path:
    return DOCS_SCREENSHOTS if os.environ.get("MESH_SCREENSHOTS") == "docs" else tmp_path


@pytest.mark.timeout(120)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_the_page_shows_nodes_come_and_go_and_errors(
    spawn: Callable[..., Proc],
    peer: Callable[..., tuple[Proc, str]],
    controller: Callable[[], tuple[Proc, int]],
    tmp_path: Path,
) -> None:
    _, port = controller()
    joins = ("--host", "127.0.0.1", "--port", str(port))
    peer("--name", "w1", *joins)
    mesh_serve(spawn, "jobs", port, "--path", str(tmp_path / "jobs.db"), name="jobs")
    mesh_serve(spawn, "events", port, "--path", str(tmp_path / "events"), name="events")
    (tmp_path / "my_pipeline.py").write_text(PIPELINE)
    running = spawn("-c", LIVE_PIPELINE.replace("PORT", str(port)), module="tests._support.run_code")
    running.wait_line("PIPELINE RUNNING", timeout=30)
    # The default poll, once a second: what a user gets.
    pipeline = ("--pipeline", "my_pipeline:plumber")
    _, url = start_dashboard(spawn, port, "--interval", "1", *pipeline, extra_env={"PYTHONPATH": str(tmp_path)})
    with Global(process_name="main", host="127.0.0.1", port=port) as g, chromium_page() as page:
        page.goto(url)
        page.locator('#members tr[data-key="w1"]').wait_for(timeout=10_000)
        assert page.locator("#status").inner_text() == "live"

        w2, _ = peer("--name", "w2", *joins)
        joined = time.monotonic()
        page.locator('#members tr[data-key="w2"]').wait_for(timeout=5_000)
        assert time.monotonic() - joined < 2.0, "w2 showed later than 2 s after it joined"

        # Playwright's sync face runs an event loop in this thread: the calls are made in another,
        # or they would be taken for calls of async code.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(make_calls, g).result(timeout=30)
        errors = page.locator('#callbacks tr[data-key="refuse"] td.errors')
        errors.wait_for(timeout=10_000)
        wait_until(lambda: errors.inner_text() == "3", 10, "refuse's 3 errors on the page")
        assert page.locator('#links tr[data-key="main|w1"]').count() == 1
        page.locator('#jobs tr[data-key="queued"] td:nth-child(2)').filter(has_text="1").wait_for(timeout=10_000)
        page.locator('#events tr[data-key="orders"] td:nth-child(2)').filter(has_text="2").wait_for(timeout=10_000)
        given = page.locator('#pipelines [data-pipeline="my_pipeline:plumber"]')
        assert given.locator("pre").inner_text().strip() == "graph LR;\n    a((a))-->b((b));"
        assert given.locator("h3").inner_text() == "my_pipeline:plumber · not running"
        assert sorted(given.locator("g[data-processor] text").all_text_contents()) == ["a", "b"]
        live = page.locator('#pipelines [data-pipeline="live"]')
        live.wait_for(timeout=10_000)
        assert live.locator("h3").inner_text() == "live · running on pipe"
        assert live.locator("line").count() == 2, "source -> double -> sink"
        rates = live.locator('g[data-processor="double"] text.rates')
        wait_until(
            lambda: (
                re.fullmatch(r"in [1-9][\d.]*/s · out [1-9][\d.]*/s · queue \d+", rates.text_content() or "")
                is not None
            ),
            10,
            "double's rates on the page",
        )
        folder = screenshots(tmp_path)
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / "dashboard.png"), full_page=True)

        w2.popen.send_signal(signal.SIGKILL)
        page.locator('#members tr[data-key="w2"]').wait_for(state="detached", timeout=15_000)
        assert page.locator('#members tr[data-key="w1"]').count() == 1
        page.screenshot(path=str(folder / "after-sigkill.png"), full_page=True)


PIPELINE = """
from mesh.pipelines import Plumber
async def f(self, q): pass
plumber = Plumber({'nodes': {'a': {'coro': f}, 'b': {'coro': f}}, 'graph': {'a': ('b',), 'b': None}})
"""


LIVE_PIPELINE = """
import anyio
from mesh import Global
from mesh.pipelines import Plumber

async def source(self, output_q):
    n = 0
    while True:
        await output_q.put(n)
        n += 1
        await anyio.sleep(0.01)

async def double(self, q_elt):
    return 2 * q_elt[0]

async def sink(self, q_elt):
    return None

graph = {
    "nodes": {"source": {"coro": source}, "double": {"coro": double}, "sink": {"coro": sink}},
    "graph": {"source": ("double",), "double": ("sink",), "sink": None},
}
with Global("pipe", host="127.0.0.1", port=PORT) as g:
    print("PIPELINE RUNNING", flush=True)
    anyio.run(Plumber(graph, g=g, name="live").run)
"""


def make_calls(g: Global) -> None:
    """20 calls of w1's add, and 3 of w2's refuse, which fail; a job for later, and 2 events."""
    g.wait_process("w2", 10)
    for n in range(20):
        assert g.call.add(n, n) & FG(receiver="w1") == 2 * n
    for _ in range(3):
        with pytest.raises(Exception, match="no thanks"):
            g.call.refuse("no thanks") & FG(receiver="w2")
    g.wait_function("jobs.submit", 10)
    Jobs(g).submit("add", 1, 2, eta=3600) & FG
    for n in range(2):
        Events(g).publish("orders", n) & FG


@pytest.mark.timeout(60)
def test_a_pipeline_that_cannot_be_drawn_is_named(spawn: Callable[..., Proc]) -> None:
    proc = spawn("dashboard", "--pipeline", "nowhere:x", module="mesh")
    assert proc.wait_or_dump(30) == 2
    assert "mesh dashboard: cannot import 'nowhere'" in proc.text()


@pytest.mark.timeout(60)
def test_with_a_secret_the_page_needs_its_token(
    spawn: Callable[..., Proc], controller: Callable[[], tuple[Proc, int]]
) -> None:
    secret = "dashboard test secret"
    _, port = controller_with_secret(spawn, secret)
    proc, url = start_dashboard(spawn, port, "--secret", secret)
    assert url.endswith(f"/?token={page_token(secret.encode())}")
    assert secret not in proc.text()
    assert view(url)["nodes"] == []
    bare = url.partition("?")[0]
    for path in ("", "events", "view.json", "metrics"):
        with pytest.raises(urllib.error.HTTPError, match="403"):
            fetch(bare + path)
        with pytest.raises(urllib.error.HTTPError, match="403"):
            fetch(f"{bare}{path}?token=wrong")


def controller_with_secret(spawn: Callable[..., Proc], secret: str) -> tuple[Proc, int]:
    port = free_port()
    proc = spawn("--host", "127.0.0.1", "--port", str(port), "--secret", secret, module="controller")
    proc.wait_line("controller listening")
    return proc, port


@pytest.mark.timeout(60)
def test_beyond_loopback_only_with_a_secret_or_tls() -> None:
    with Global(process_name="alone", init_controller=True) as g:
        collector = Collector(g)
        with pytest.raises(UsageError, match="dashboard"):
            DashboardServer(collector, host="0.0.0.0")
        server = DashboardServer(collector, host="0.0.0.0", secret=b"s")
        try:
            assert server.token is not None and server.url.endswith(f"?token={server.token}")
        finally:
            server.close()


@pytest.mark.timeout(60)
def test_under_tls_the_page_is_https_and_asks_for_a_certificate_of_the_mesh(tmp_path: Path) -> None:
    authority, stranger = Authority.create("mesh-ca"), Authority.create("another-ca")
    server_tls = authority.tls("dashboard", tmp_path / "server")
    with Global(process_name="alone", init_controller=True) as g:
        server = DashboardServer(Collector(g), host="0.0.0.0", tls=server_tls)
        try:
            assert server.url.startswith("https://") and server.token is None
            url = f"https://127.0.0.1:{server.port}/view.json"

            def get(client: TLSConfig | None) -> bytes:
                context = ssl.create_default_context(cafile=str(tmp_path / "server" / "ca.crt"))
                if client is not None:
                    context.load_cert_chain(str(client.cert), str(client.key))
                with urllib.request.urlopen(url, context=context, timeout=10) as response:
                    body: bytes = response.read()
                    return body

            assert json.loads(get(authority.tls("browser", tmp_path / "ours")))["nodes"] == []
            for client in (None, stranger.tls("browser", tmp_path / "theirs")):
                with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                    get(client)
        finally:
            server.close()
