"""Pyro5 for comparison (``python -m mesh.bench._peer_pyro5 serve|measure --port P``); not a dependency.

Pyro5 has no asynchronous proxies, so it has no "async calls" row; fire-and-forget uses ``@oneway``.
Both sides use the marshal serializer, which carries ``bytes`` as they are.
"""

from __future__ import annotations

from collections.abc import Callable

import Pyro5.api
from Pyro5 import config as pyro_config

from ._peers import Client, Counter, main

pyro_config.SERIALIZER = "marshal"
pyro_config.MAX_MESSAGE_SIZE = 1 << 30
_counter = Counter()


@Pyro5.api.expose
class Bench:
    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, data: bytes) -> bytes:
        return data

    @Pyro5.api.oneway
    def noop(self) -> None:
        _counter.tick()

    def calls(self) -> int:
        return _counter.value()


def serve(port: int) -> None:
    daemon = Pyro5.api.Daemon(host="127.0.0.1", port=port)
    daemon.register(Bench, "bench")
    print("READY", flush=True)
    daemon.requestLoop()


def connect(port: int) -> tuple[Client, Callable[[], None]]:
    proxy = Pyro5.api.Proxy(f"PYRO:bench@127.0.0.1:{port}")
    return Client(proxy.add, proxy.echo, None, proxy.noop, proxy.calls), proxy._pyroRelease


if __name__ == "__main__":
    main(serve, connect)
