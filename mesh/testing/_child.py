"""One node of :func:`mesh.testing.local_mesh` in a child process of its own.

``python -m mesh.testing._child NAME LISTEN PORT MESH_NAME STOP_GRACE [MODULE ...]`` imports each
MODULE (so that its ``@callback`` functions are offered), joins the controller on
``127.0.0.1:PORT`` as node NAME listening on LISTEN, and serves until SIGTERM or SIGINT, or until
its standard input closes: the parent holds the other end, so a parent that dies without stopping
it takes it along. Then it stops, letting running calls finish for STOP_GRACE seconds.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from mesh import Global


def main(argv: list[str] | None = None) -> None:
    """Run the node until it is told to stop (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m mesh.testing._child")
    parser.add_argument("name")
    parser.add_argument("listen")
    parser.add_argument("port", type=int)
    parser.add_argument("mesh_name")
    parser.add_argument("stop_grace", type=float)
    parser.add_argument("modules", nargs="*")
    options = parser.parse_args(argv)
    # Both signals end join() through KeyboardInterrupt, which stops the node cleanly. SIGINT is set
    # too because a child of a background job inherits it ignored.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=_stop_when_parent_goes, name="parent-watch", daemon=True).start()
    for module in options.modules:
        importlib.import_module(module)
    node = Global(
        process_name=options.name,
        host="127.0.0.1",
        port=options.port,
        listen=options.listen,
        mesh_name=options.mesh_name,
        discovery=False,
        stop_grace=options.stop_grace,
    )
    node.join()


def _stop_when_parent_goes() -> None:
    # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader aborts the interpreter's exit.
    while os.read(sys.stdin.fileno(), 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
