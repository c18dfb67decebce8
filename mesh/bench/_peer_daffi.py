"""daffi 2.2.1 (gRPC) for comparison (``python -m mesh.bench._peer_daffi serve|measure --port P``).

Not a dependency. The callee runs daffi's controller; the caller joins it over loopback TCP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daffi import BG, FG, Global
from daffi.decorators import callback

from ._peers import Client, Counter, main

_counter = Counter()


def serve(port: int) -> None:
    @callback
    def add(a: int, b: int) -> int:
        return a + b

    @callback
    def echo(data: bytes) -> bytes:
        return data

    @callback
    def noop() -> None:
        _counter.tick()

    @callback
    def calls() -> int:
        return _counter.value()

    g = Global(process_name="daffi-callee", init_controller=True, host="127.0.0.1", port=port)
    print("READY", flush=True)
    g.join()


def connect(port: int) -> tuple[Client, Callable[[], None]]:
    g = Global(process_name="daffi-caller", host="127.0.0.1", port=port)
    g.wait_function("calls")
    call: Any = g.call

    def submit_add(a: int, b: int) -> Callable[[], int]:
        result = call.add(a, b) & BG
        return lambda: result.get()

    return Client(
        add=lambda a, b: call.add(a, b) & FG,
        echo=lambda data: call.echo(data) & FG,
        submit_add=submit_add,
        send_noop=lambda: call.noop() & BG(return_result=False),
        calls=lambda: call.calls() & FG,
    ), g.stop


if __name__ == "__main__":
    main(serve, connect)
