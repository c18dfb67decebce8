"""A connection attempt that a busy peer fails reads as such, dialled again with longer bounds; a refused one does not.

gRPC words a TCP handshake cut short "connect() timed out" (on either engine) or, on EventEngine at
times, "tcp handshaker shutdown".

Real gRPC channels on loopback against plain sockets that hold the attempt up or drop it: a
listener whose accept queue is full (the TCP handshake never completes), one that accepts but never
speaks HTTP/2 (no SETTINGS frame) and one that resets every connection it accepts, on the I/O engine
the mesh picks and on gRPC's EventEngine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests._support.proc import ROOT

pytestmark = pytest.mark.timeout(60)

# Prints whether the attempt's error reads as a busy peer's, then its details.
ATTEMPT = """
import asyncio, sys
import mesh
import grpc
from mesh.wire import _frames, _transport

async def main():
    channel = _transport.open_channel(sys.argv[1], 1 << 20, None, _transport.PEER_CONNECT_ATTEMPT_MS)
    try:
        await _frames.open_stream(channel).read()
    except grpc.aio.AioRpcError as exc:
        print(_transport.busy_peer(exc), exc.details())
    finally:
        await channel.close(None)

asyncio.run(main())
"""


def _attempt(address: str, engine: str) -> tuple[bool, str]:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    if engine == "EventEngine":
        env["GRPC_EXPERIMENTS"] = ""
    done = subprocess.run(
        [sys.executable, "-c", ATTEMPT, address], cwd=ROOT, env=env, capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 0, done.stderr
    slow, _, details = done.stdout.strip().partition(" ")
    return slow == "True", details


@pytest.fixture
def full_accept_queue() -> Iterator[str]:
    """A listener whose accept queue is full: a new connection's TCP handshake never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    try:
        yield f"127.0.0.1:{address[1]}"
    finally:
        for sock in [*fillers, listener]:
            sock.close()


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A listener the kernel completes connections for, and that never sends a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def resetting_listener() -> Iterator[str]:
    """A listener that resets each connection as it accepts it, before a byte of HTTP/2."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def reset_all() -> None:
        with contextlib.suppress(OSError):  # the listener closed: the test is over
            while True:
                accepted, _ = listener.accept()
                accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                accepted.close()

    resetter = threading.Thread(target=reset_all, daemon=True)
    resetter.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        resetter.join(5)


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("engine", ["poll", "EventEngine"])
def test_a_tcp_handshake_cut_by_the_bound_reads_as_slow(full_accept_queue: str, engine: str) -> None:
    slow, details = _attempt(full_accept_queue, engine)
    assert slow, details


@pytest.mark.parametrize("engine", ["poll", "EventEngine"])
def test_no_settings_frame_within_the_bound_reads_as_slow(silent_listener: str, engine: str) -> None:
    slow, details = _attempt(silent_listener, engine)
    assert "before receiving SETTINGS frame" in details
    assert slow, details


@pytest.mark.parametrize("engine", ["poll", "EventEngine"])
def test_a_connection_reset_before_http2_reads_as_a_busy_peer(resetting_listener: str, engine: str) -> None:
    slow, details = _attempt(resetting_listener, engine)
    assert "Connection reset by peer" in details
    assert slow, details


@pytest.mark.parametrize("engine", ["poll", "EventEngine"])
def test_a_refused_connection_does_not(closed_port: str, engine: str) -> None:
    slow, details = _attempt(closed_port, engine)
    assert "refused" in details.lower()
    assert not slow, details
