"""Addresses to serve on (issue 18, item 8): a port in use or a bad address fails with an error that
names the cause. In this machine's own namespace only loopback and UNIX sockets are used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mesh import AddressInUse, Global, UsageError
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.timeout(90)


# ---------------------------------------------------------------------- this machine: a port in use


def test_a_port_in_use_raises_address_in_use_and_grpc_prints_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = (
            "from mesh import AddressInUse, Global\n"
            f"try:\n    Global('n', init_controller=True, listen='127.0.0.1:{port}')\n"
            "except AddressInUse as exc:\n    print('raised', exc)\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
        done = subprocess.run(
            [sys.executable, "-m", "tests.run_code", "-c", code],
            cwd=ROOT,
            env={**env, "TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.stdout.startswith(f"raised cannot listen on 127.0.0.1:{port} for the node 'n': port {port} is in use")
    assert done.stderr == "", done.stderr


def test_a_unix_socket_in_use_raises_address_in_use(tmp_path: Path) -> None:
    with (
        Global("first", init_controller=True, listen=f"unix:{tmp_path / 'n.sock'}"),
        pytest.raises(AddressInUse, match="another process is serving there"),
    ):
        Global("second", init_controller=True, listen=f"unix:{tmp_path / 'n.sock'}")


def test_a_unix_socket_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot listen on unix:.*missing/n\.sock.*No such file"):
        Global("n", init_controller=True, listen=f"unix:{tmp_path / 'missing' / 'n.sock'}")


def test_the_controller_port_in_use_raises_address_in_use() -> None:
    port = free_port()
    with (
        Global("first", init_controller=True, host="127.0.0.1", port=port),
        pytest.raises(AddressInUse, match=f"127.0.0.1:{port} for the controller: port {port} is in use"),
    ):
        Global("second", init_controller=True, host="127.0.0.1", port=port)
