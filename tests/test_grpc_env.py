"""gRPC core's settings: ``import mesh`` sets them before gRPC reads them, and never over the program's own."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from mesh._grpc_env import POLL_ENGINE, POLL_ENGINE_UP_TO, grpcio_release

pytestmark = pytest.mark.timeout(60)

SHOW = "import os; print(repr(os.environ.get('GRPC_EXPERIMENTS')), repr(os.environ.get('GRPC_VERBOSITY')))"


def _fresh(code: str, **env: str) -> str:
    """What ``code`` prints in a new interpreter whose environment has none of gRPC's variables but ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in ("GRPC_EXPERIMENTS", "GRPC_VERBOSITY")}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, timeout=50, check=True
    )
    assert done.stderr == "", done.stderr
    return done.stdout.strip()


def test_the_release_read_from_grpcios_version_file_is_the_installed_one() -> None:
    major, minor, *_ = version("grpcio").split(".")
    assert grpcio_release() == (int(major), int(minor))


def test_import_mesh_picks_the_poll_engine_and_quiet_logs_before_grpc_is_imported() -> None:
    release = grpcio_release()
    if release is None or release > POLL_ENGINE_UP_TO:
        pytest.skip(f"grpcio {version('grpcio')} is newer than the releases the poll engine was measured on")
    shown = _fresh("import mesh; " + SHOW)
    assert shown == f"{POLL_ENGINE!r} 'ERROR'"


def test_the_programs_own_settings_are_kept_even_empty() -> None:
    assert _fresh("import mesh; " + SHOW, GRPC_EXPERIMENTS="", GRPC_VERBOSITY="INFO") == "'' 'INFO'"
    assert _fresh("import mesh; " + SHOW, GRPC_EXPERIMENTS="-event_engine_client") == "'-event_engine_client' 'ERROR'"


def test_nothing_is_set_once_grpc_is_imported_since_its_core_has_read_the_environment() -> None:
    assert _fresh("import grpc; import mesh; " + SHOW) == "None None"
