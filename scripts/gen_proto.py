"""Regenerate mesh/wire/_proto/ from proto/mesh/v1/mesh.proto.

Run as ``python scripts/gen_proto.py`` (after ``pip install -e '.[codegen]'``); ``--check``
exits 1 when the committed files differ from what the installed grpcio-tools generates.

The generated files carry the version of the tools that wrote them, which would make the
committed files depend on the patch release pip picked on the day. They are stamped instead
with the floors that pyproject.toml declares for grpcio and protobuf: the lowest runtime
the project supports, and so the one the stubs must accept.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "mesh" / "wire" / "_proto"
SOURCE = "mesh/v1/mesh.proto"
GENERATED = ("mesh_pb2.py", "mesh_pb2.pyi", "mesh_pb2_grpc.py")


def declared_floor(package: str) -> str:
    """The lowest version of ``package`` that pyproject.toml's dependencies accept."""
    found = re.search(rf'"{re.escape(package)}>=([0-9.]+)', PYPROJECT.read_text())
    if found is None:
        raise SystemExit(f"pyproject.toml declares no lower bound for {package}")
    return found.group(1)


def stamp_floors(name: str, text: str) -> str:
    """Replace the generating tools' versions in ``text`` with the declared runtime floors."""
    if name == "mesh_pb2_grpc.py":
        grpcio = declared_floor("grpcio")
        return re.sub(r"^GRPC_GENERATED_VERSION = '[^']*'", f"GRPC_GENERATED_VERSION = '{grpcio}'", text, flags=re.M)
    if name == "mesh_pb2.py":
        major, minor, patch = declared_floor("protobuf").split(".")
        text = re.sub(
            r"^# Protobuf Python Version: .*$", f"# Protobuf Python Version: {major}.{minor}.{patch}", text, flags=re.M
        )
        return re.sub(
            r"(_runtime_version\.Domain\.PUBLIC,\n)\s*\d+,\n\s*\d+,\n\s*\d+,\n",
            rf"\g<1>    {major},\n    {minor},\n    {patch},\n",
            text,
        )
    return text


def generate(out: Path) -> dict[str, str]:
    """Run protoc into ``out`` and return the generated files, imports made package-relative."""
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(PROTO_DIR / SOURCE),
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    files = {}
    for name in GENERATED:
        text = (out / "mesh" / "v1" / name).read_text()
        text = re.sub(r"^from mesh\.v1 import mesh_pb2", "from . import mesh_pb2", text, flags=re.M)
        files[name] = stamp_floors(name, text)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
    if options.check:
        stale = [n for n, t in files.items() if (OUT_DIR / n).read_text() != t]
        if stale:
            print("stale generated files: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    for name, text in files.items():
        (OUT_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
