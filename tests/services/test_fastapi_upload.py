"""examples/fastapi_upload against real nodes: a controller, ``mesh serve storage``, ``mesh serve jobs`` and
the example's worker, each a process; the app in this process, through FastAPI's TestClient."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesh import Global
from tests._support.proc import Proc
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until


@pytest.mark.timeout(120)
def test_upload_is_stored_then_processed_by_the_worker(
    controller: Callable[[], tuple[Proc, int]], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    pytest.importorskip("fastapi", reason="the example needs FastAPI: pip install 'grpcmesh[fastapi]'")
    pytest.importorskip("multipart", reason="uploads need python-multipart: pip install 'grpcmesh[fastapi]'")
    from fastapi.testclient import TestClient

    from examples.fastapi_upload.app import make_app

    _, port = controller()
    root = tmp_path / "objects"
    mesh_serve(spawn, "storage", port, "--root", str(root), name="storage")
    mesh_serve(spawn, "jobs", port, "--path", str(tmp_path / "jobs.sqlite"), name="jobs")
    worker = spawn("--host", "127.0.0.1", "--port", str(port), module="examples.fastapi_upload.worker")
    worker.wait_line("worker ready")
    content = b"the file's bytes\n" * 1000

    with Global(process_name="upload-app", host="127.0.0.1", port=port) as g:
        g.wait_function("plugins.run", timeout=10)
        with TestClient(make_app(g)) as client:
            answer = client.post("/upload", files={"file": ("report.txt", content)})
            assert answer.status_code == 200, answer.text
            job_id = answer.json()["job_id"]

            def status() -> dict[str, Any]:
                got: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
                return got

            wait_until(lambda: status()["state"] in ("done", "failed"), 30, "the job's end")
            ended = status()
            assert client.get("/jobs/no-such-job").status_code == 404

    digest = hashlib.sha256(content).hexdigest()
    assert ended["state"] == "done", ended
    result = ended["result"]
    assert result["size"] == len(content) and result["sha256"] == digest
    assert result["worker_pid"] == worker.pid
    assert result["path"].startswith("uploads/") and result["path"].endswith("/report.txt")
    stored = root / result["path"]
    assert stored.read_bytes() == content
    assert stored.with_name("report.txt.sha256").read_text() == digest
