"""Node 'main' with the mesh's controller, in the test's own process, over TCP or a UNIX socket."""

from __future__ import annotations

from mesh import Global
from tests._support.proc import free_port


def main_node(transport: str) -> tuple[Global, list[str]]:
    """Start node 'main' and the controller here: on a free loopback port (``"tcp"``) or the default
    UNIX socket (``"unix"``). Returns it and the arguments a peer process needs to join it."""
    if transport == "tcp":
        port = free_port()
        return Global(process_name="main", init_controller=True, host="127.0.0.1", port=port), [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    return Global(process_name="main", init_controller=True), []
