"""gRPC core's settings: ``import mesh`` imports gRPC on its poll-based I/O and quiet, never over the program's own.

Which engine a process's gRPC runs shows in gRPC's own TCP trace (``GRPC_TRACE=tcp``, seen with
``GRPC_VERBOSITY=DEBUG``): the poll-based engine logs from ``tcp_posix.cc``, EventEngine from its
``endpoint.cc`` and ``posix_endpoint.cc``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from mesh._grpc_env import POLL_ENGINE_UP_TO, grpcio_release

pytestmark = pytest.mark.timeout(60)

# One unary call on loopback, then the process's settings as it saw them.
CALL_AND_SHOW = """
import asyncio, os
import grpc

async def main():
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            await channel.unary_unary("/no.Such/Method")(b"x", timeout=5)
        except grpc.aio.AioRpcError:
            pass
    await server.stop(None)

asyncio.run(main())
print(repr(os.environ.get("GRPC_EXPERIMENTS")), repr(os.environ.get("GRPC_VERBOSITY")))
"""


def _engine_and_settings(first: str, **env: str) -> tuple[str | None, str]:
    """The I/O engine (None if gRPC logged nothing) and the settings of a new interpreter that runs
    ``first`` then :data:`CALL_AND_SHOW`, with none of gRPC's variables in its environment but ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_")}
    done = subprocess.run(
        [sys.executable, "-c", first + "\n" + CALL_AND_SHOW],
        env={**base, "GRPC_TRACE": "tcp", **env},
        capture_output=True,
        text=True,
        timeout=50,
        check=True,
    )
    if "tcp_posix.cc" in done.stderr:
        return "poll", done.stdout.strip()
    return ("EventEngine" if "endpoint.cc" in done.stderr else None), done.stdout.strip()


def _measured_release() -> None:
    release = grpcio_release()
    if release is None or release > POLL_ENGINE_UP_TO:
        pytest.skip(f"grpcio {version('grpcio')} is newer than the releases the poll engine was measured on")


def test_the_release_read_from_grpcios_version_file_is_the_installed_one() -> None:
    major, minor, *_ = version("grpcio").split(".")
    assert grpcio_release() == (int(major), int(minor))


def test_import_mesh_runs_grpc_on_the_poll_engine_and_leaves_no_experiments_to_child_processes() -> None:
    _measured_release()
    engine, settings = _engine_and_settings("import mesh", GRPC_VERBOSITY="DEBUG")
    assert (engine, settings) == ("poll", "None 'DEBUG'")


def test_import_mesh_quiets_grpc_where_the_program_did_not_say() -> None:
    assert _engine_and_settings("import mesh") == (None, "None 'ERROR'")


def test_the_programs_own_experiments_are_kept_even_empty() -> None:
    engine, settings = _engine_and_settings("import mesh", GRPC_EXPERIMENTS="", GRPC_VERBOSITY="DEBUG")
    assert (engine, settings) == ("EventEngine", "'' 'DEBUG'")


def test_a_program_that_imported_grpc_first_keeps_its_engine() -> None:
    engine, settings = _engine_and_settings("import grpc, mesh", GRPC_VERBOSITY="DEBUG")
    assert (engine, settings) == ("EventEngine", "None 'DEBUG'")
