"""PyDistributed's key-value example, one of its clients: ``python -m tests._support.kv_client HOST PORT NAME COUNT``.

Joins the mesh of the controller at HOST:PORT as NAME and does COUNT set/get pairs on the key NAME,
each read checked against the write before it; prints ``DONE NAME COUNT``.
"""

from __future__ import annotations

import sys

from mesh import FG, Global
from mesh.services import KV


def main() -> None:
    host, port, name, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with Global(name, host=host, port=port) as g:
        g.wait_function("kv.get", timeout=20)
        client = KV(g)
        for n in range(count):
            client.set(name, n) & FG
            read = client.get(name) & FG
            assert read == n, f"{name}: read {read!r} after writing {n!r}"
    print(f"DONE {name} {count}", flush=True)


if __name__ == "__main__":
    main()
