"""mesh.plugins: the distributed-core seed's README example, the registry's errors, tasks of behaviours,
the plugins that need no service (local, in_memory, fastapi) and third-party plugins of an entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mesh.plugins
from mesh import BadArguments, UsageError
from mesh.plugins import (
    ENTRY_POINT_GROUP,
    Behavior,
    JobInterface,
    PluginFactory,
    StorageInterface,
    Task,
    define_interface,
    register_plugin,
)
from tests._support.job_plugins import check_a_failure_is_kept_and_unknown_ids_raise

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seeds" / "distributed-core.md"
EXAMPLE = ROOT / "examples" / "distributed_core_readme.py"


def _code(text: str) -> list[str]:
    """The lines that are neither blank nor imports."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith(("from ", "import "))]


@pytest.mark.skipif(not SEED.exists(), reason=f"distributed-core's README ({SEED}) is not beside this checkout")
def test_example_is_the_seeds_code_but_for_imports() -> None:
    seed = "\n".join(re.findall(r"```python\n(.*?)```", SEED.read_text(), re.S))
    ours = EXAMPLE.read_text().split('\nif __name__ == "__main__":', 1)[0].split('"""', 2)[2]
    assert _code(ours) == _code(seed)


@pytest.mark.timeout(60)
def test_seed_example_stores_then_schedules_then_finalizes(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the example needs FastAPI: pip install 'grpcmesh[fastapi]'")
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "examples.distributed_core_readme"],
        cwd=ROOT, capture_output=True, text=True, timeout=50, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        "INFO: MinIO client configured for bucket 'my-bucket'.",
        "INFO: Writing 11 bytes to MinIO at path 'uploads/file.bin'.",
        "SUCCESS: Background processing for 'uploads/file.bin' is complete.",
    ]
    assert re.fullmatch(r"ANSWER 200 \{'scheduled': True, 'job_id': '[0-9a-f-]{36}'\}", lines[3])


def test_every_public_name_is_sorted_documented_and_has_a_docstring() -> None:
    names = mesh.plugins.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    reference = (ROOT / "docs" / "plugins.md").read_text()
    for name in names:
        assert getattr(mesh.plugins, name).__doc__, f"mesh.plugins.{name} has no docstring"
        assert re.search(rf"`[^`]*\b{name}\b", reference), f"mesh.plugins.{name} is missing from docs/plugins.md"


# The registry


@define_interface
class Greeter:
    """A test interface."""

    def greet(self) -> str:
        raise NotImplementedError


@register_plugin(Greeter, name="polite")
class Polite(Greeter):
    def __init__(self, name: str, title: str = "Dr") -> None:
        self.text = f"Good day, {title} {name}"

    def greet(self) -> str:
        return self.text


def test_factory_makes_a_plugin_with_its_config() -> None:
    assert PluginFactory.get(Greeter, "polite", name="Ada").greet() == "Good day, Dr Ada"
    assert PluginFactory.names(Greeter) == ["polite"]


def test_an_unknown_plugin_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"no Greeter plugin is named 'polit'; the known ones: polite; did you mean"):
        PluginFactory.get(Greeter, "polit", name="Ada")
    known = r"no StorageInterface plugin is named 'minio'; the known ones: local, mesh, s3"
    with pytest.raises(UsageError, match=known):
        PluginFactory.get(StorageInterface, "minio")


def test_missing_or_unknown_config_names_what_the_plugin_takes() -> None:
    needs = r"'polite' cannot be configured with title: .*'name'.*it takes name, title='Dr'"
    with pytest.raises(BadArguments, match=needs):
        PluginFactory.get(Greeter, "polite", title="Prof")
    with pytest.raises(BadArguments, match=r"'local' cannot be configured with nothing: .*'root'.*it takes root"):
        PluginFactory.get(StorageInterface, "local")
    with pytest.raises(BadArguments, match=r"cannot be configured with name, shout: .*'shout'"):
        PluginFactory.get(Greeter, "polite", name="Ada", shout=True)


def test_registration_is_checked() -> None:
    class Loose:
        pass

    with pytest.raises(UsageError, match=r"is not an interface: decorate its class with @define_interface"):
        register_plugin(Loose, name="x")
    with pytest.raises(UsageError, match=r"does not subclass the interface Greeter"):
        register_plugin(Greeter, name="loose")(Loose)
    with pytest.raises(UsageError, match=r"a plugin's name is a non-empty str"):
        register_plugin(Greeter, name="")


# Tasks of behaviours


@register_plugin(Behavior, name="test_trace")
class Trace(Behavior):
    def execute(self, next_fn: Any, *args: Any, **kwargs: Any) -> Any:
        label = self.config.pop("label")
        return [label, *next_fn(*args, **kwargs)]


def test_behaviours_run_in_the_order_added_and_each_run_gets_its_own_config() -> None:
    task = Task(lambda x: [f"fn({x})"])
    task.add_behavior(Behavior, plugin="test_trace", label="first")
    task.add_behavior(Behavior, plugin="test_trace", label="second")
    assert task.submit(1) == ["first", "second", "fn(1)"]
    assert task.submit(2) == ["first", "second", "fn(2)"]  # the first run's pop took nothing from the second's


def test_add_behavior_refuses_what_cannot_run() -> None:
    task = Task(print)
    with pytest.raises(UsageError, match=r"no Behavior plugin is named 'storage_wirte'; .*mean 'storage_write'"):
        task.add_behavior(Behavior, plugin="storage_wirte")
    with pytest.raises(UsageError, match=r"add_behavior takes Behavior"):
        task.add_behavior(StorageInterface, plugin="local")
    with pytest.raises(UsageError, match=r"a Task wraps a callable"):
        Task("finalize")  # type: ignore[arg-type]


def test_storage_write_without_a_backend_lists_them() -> None:
    task = Task(print).add_behavior(Behavior, plugin="storage_write")
    with pytest.raises(BadArguments, match=r"storage_write behaviour needs backend=<a storage plugin: local, mesh, s3"):
        task.submit(path="a", data=b"x")


def test_local_storage_then_in_memory_job(tmp_path: Path) -> None:
    def finalize(path: str) -> dict[str, Any]:
        return {"read": PluginFactory.get(StorageInterface, "local", root=tmp_path).read_file(path)}

    task = Task(finalize)
    task.add_behavior(Behavior, plugin="storage_write", backend="local", root=tmp_path)
    task.add_behavior(Behavior, plugin="schedule_job", job_type="in_memory")
    answer = task.submit(path="up/a.bin", data=b"payload")
    assert answer["scheduled"] is True
    jobs = PluginFactory.get(JobInterface, "in_memory")
    assert jobs.result(answer["job_id"], timeout=10) == {"read": b"payload"}
    assert jobs.status(answer["job_id"]) == "done"
    assert (tmp_path / "up" / "a.bin").read_bytes() == b"payload"


def test_local_storage_refuses_a_path_out_of_its_root(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"storage path '../x' leads out of the root"):
        PluginFactory.get(StorageInterface, "local", root=tmp_path / "root").write_file("../x", b"x")
    assert not (tmp_path / "x").exists()


def test_in_memory_job_keeps_its_error_and_unknown_ids_raise() -> None:
    check_a_failure_is_kept_and_unknown_ids_raise(PluginFactory.get(JobInterface, "in_memory"))


def test_fastapi_plugin_runs_the_job_as_a_background_task(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the fastapi plugin's test needs FastAPI: pip install 'grpcmesh[fastapi]'")
    from fastapi.testclient import TestClient

    from tests._support.background_app import make_app

    app = make_app(tmp_path)
    with TestClient(app) as client:
        answer = client.post("/up", params={"name": "f.txt"}).json()
    jobs = PluginFactory.get(JobInterface, "fastapi", background_tasks=None)
    assert jobs.status(answer["job_id"]) == "done"  # TestClient returns after the background tasks ran
    assert jobs.result(answer["job_id"]) == "F.TXT"
    assert (tmp_path / "f.txt").read_bytes() == b"body"


# Third-party plugins: a distribution with an entry point, on the path of a fresh interpreter


def _distribution(folder: Path, module_text: str) -> None:
    (folder / "shouting_storage.py").write_text(module_text)
    info = folder / "shouting_storage-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shouting-storage\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nshouting = shouting_storage\n")


PLUGIN_MODULE = """
from mesh.plugins import PluginFactory, StorageInterface, register_plugin

BUILT_IN = PluginFactory.names(StorageInterface)  # a lookup while the entry points load: no deadlock

@register_plugin(StorageInterface, name="shouting")
class Shouting(StorageInterface):
    def __init__(self) -> None:
        self.files = {}

    def write_file(self, path, data):
        self.files[path] = data.upper()

    def read_file(self, path):
        return self.files[path]
"""

USE_IT = """
from mesh import UsageError
from mesh.plugins import PluginFactory, StorageInterface
for _ in range(2):
    try:
        PluginFactory.names(StorageInterface)
    except UsageError as error:
        print("REFUSED", error)
print(PluginFactory.names(StorageInterface))
store = PluginFactory.get(StorageInterface, "shouting")
store.write_file("a", b"quiet")
print(store.read_file("a"))
"""


def _run(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(path), str(ROOT)]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.timeout(90)
def test_a_distributions_entry_point_adds_its_plugins(tmp_path: Path) -> None:
    _distribution(tmp_path, PLUGIN_MODULE)
    done = _run(USE_IT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['local', 'mesh', 's3', 'shouting']", "b'QUIET'"]


@pytest.mark.timeout(90)
def test_an_entry_point_that_fails_to_load_is_named(tmp_path: Path) -> None:
    _distribution(tmp_path, "raise RuntimeError('half installed')\n")
    done = _run(USE_IT, tmp_path)
    assert done.returncode == 1
    refused = (
        "REFUSED the plugin entry point shouting = shouting_storage (of shouting-storage) failed to load: "
        "RuntimeError('half installed')"
    )
    assert done.stdout.splitlines() == [refused, refused]  # each lookup says so, none goes on without it
    assert "UsageError: the plugin entry point shouting" in done.stderr
