"""RPyC for comparison (``python -m mesh.bench._peer_rpyc serve|measure --port P``); not a dependency."""

from __future__ import annotations

from collections.abc import Callable

import rpyc
from rpyc.utils.server import ThreadedServer

from ._peers import Client, Counter, main

_counter = Counter()


class BenchService(rpyc.Service):  # type: ignore[misc]
    def exposed_add(self, a: int, b: int) -> int:
        return a + b

    def exposed_echo(self, data: bytes) -> bytes:
        return data

    def exposed_noop(self) -> None:
        _counter.tick()

    def exposed_calls(self) -> int:
        return _counter.value()


def serve(port: int) -> None:
    server = ThreadedServer(BenchService, hostname="127.0.0.1", port=port)
    print("READY", flush=True)
    server.start()


def connect(port: int) -> tuple[Client, Callable[[], None]]:
    conn = rpyc.connect("127.0.0.1", port)
    root = conn.root
    add, echo, calls = root.add, root.echo, root.calls
    async_add, async_noop = rpyc.async_(root.add), rpyc.async_(root.noop)

    def submit_add(a: int, b: int) -> Callable[[], int]:
        result = async_add(a, b)
        return lambda: result.value

    def send_noop() -> None:
        async_noop()

    return Client(add, echo, submit_add, send_noop, calls), conn.close


if __name__ == "__main__":
    main(serve, connect)
