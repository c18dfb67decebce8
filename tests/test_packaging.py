"""The package's surface: exported names, typing marker, generated code, imports, console script."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mesh
from tests._support.proc import MESH_COMMAND

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = {
    "AddressInUse",
    "AsyncResult",
    "AuthenticationError",
    "Batch",
    "BG",
    "BROADCAST",
    "BadArguments",
    "BroadcastError",
    "CallCancelled",
    "CallTimeout",
    "Caller",
    "ControllerUnavailable",
    "FG",
    "Global",
    "MeshError",
    "NO_RETURN",
    "NameTaken",
    "NodeStopped",
    "PERIOD",
    "STREAM",
    "PayloadTooLarge",
    "PeerUnavailable",
    "RemoteCall",
    "RemoteError",
    "ScheduledCall",
    "SerializationError",
    "Stream",
    "Streamed",
    "TLSConfig",
    "TransportError",
    "UnknownCallback",
    "UsageError",
    "callback",
    "configure_logging",
    "current_caller",
    "disable_tracing",
    "enable_tracing",
    "stream",
}

pytestmark = pytest.mark.timeout(120)


def test_exported_names_are_the_documented_ones() -> None:
    assert set(mesh.__all__) == DOCUMENTED
    assert mesh.__all__ == sorted(mesh.__all__, key=lambda n: (not n.isupper(), n))
    for name in mesh.__all__:
        assert getattr(mesh, name).__doc__, f"{name} has no docstring"
    reference = (ROOT / "docs" / "api.md").read_text()
    for name in DOCUMENTED:
        assert re.search(rf"\b{name}\b", reference), f"{name} is missing from docs/api.md"


def test_py_typed_ships() -> None:
    assert (Path(mesh.__file__).parent / "py.typed").exists()


def test_generated_protobuf_code_is_fresh() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/gen_proto.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_generated_code_asks_only_for_the_declared_runtime_floors() -> None:
    """Stamped with pyproject's floors, not the grpcio-tools patch release that happened to run."""
    declared = (ROOT / "pyproject.toml").read_text()
    grpcio = re.search(r'"grpcio>=([0-9.]+)', declared)
    protobuf = re.search(r'"protobuf>=([0-9.]+)', declared)
    assert grpcio and protobuf
    stubs = (ROOT / "mesh" / "wire" / "_proto" / "mesh_pb2_grpc.py").read_text()
    assert f"GRPC_GENERATED_VERSION = '{grpcio.group(1)}'" in stubs
    messages = (ROOT / "mesh" / "wire" / "_proto" / "mesh_pb2.py").read_text()
    major, minor, patch = protobuf.group(1).split(".")
    assert f"Domain.PUBLIC,\n    {major},\n    {minor},\n    {patch},\n" in messages


def test_runtime_dependencies_leave_out_the_code_generator() -> None:
    core = [r for r in importlib.metadata.requires("grpcmesh") or [] if "extra ==" not in r]
    assert not [r for r in core if r.startswith(("grpcio-tools", "setuptools"))], core


def _modules() -> list[str]:
    names = []
    for package in ("mesh", "controller"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# The benchmark's peers import libraries it compares with, which the project does not depend on.
PEER_LIBRARIES = {"mesh.bench._peer_daffi": "daffi", "mesh.bench._peer_pyro5": "Pyro5", "mesh.bench._peer_rpyc": "rpyc"}
# The backends of an extra (grpcmesh[redis]) import its library.
EXTRA_LIBRARIES = {"mesh.services.kv.backends._redis": "redis"}


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports_alone(module: str) -> None:
    if module in PEER_LIBRARIES:
        pytest.importorskip(PEER_LIBRARIES[module], reason="a peer library the benchmark compares with, when installed")
    if module in EXTRA_LIBRARIES:
        pytest.importorskip(EXTRA_LIBRARIES[module], reason="the library of an extra, when installed")
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_mesh_console_script() -> None:
    done = subprocess.run([MESH_COMMAND, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("demo", "controller", "ls", "serve"):
        assert command in done.stdout


def test_the_wheel_installs_only_mesh_controller_and_the_pytest_plugin(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and egg-info beside the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    wheel_command = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)]
    done = subprocess.run([sys.executable, "-m", *wheel_command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("grpcmesh-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
        assert tops == {"mesh", "controller"}
        assert "mesh/bench/cli.py" in archive.namelist()
        assert "mesh/testing/_child.py" in archive.namelist()
        (entry_points,) = [name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")]
        assert "[pytest11]\ngrpcmesh = mesh.testing.plugin\n" in archive.read(entry_points).decode()
