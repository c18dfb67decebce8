"""How much each benchmark row does, and where the processes meet."""

from __future__ import annotations

import dataclasses
import json
import socket
from dataclasses import dataclass

MIB = 1024 * 1024
MESH_GROUPS = ("fg", "bg", "no_return", "payload", "broadcast", "stream", "start", "kv", "storage", "pipeline")
PEER_GROUPS = ("daffi", "pyro5", "rpyc")
# Seconds a node of the run (a callee, a service) has to join and offer its callbacks.
JOIN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Counts:
    """Calls per row and run."""

    runs: int = 3
    warmup: int = 200
    calls: int = 2000
    stream: int = 10_000
    in_flight: int = 1000
    no_return: int = 20_000
    payload_calls: int = 50
    big_calls: int = 5
    big_mib: int = 64
    broadcast_calls: int = 500
    broadcast_nodes: int = 3
    # The stream rows: small items each way, and MiB streamed each way in 1 MiB chunks.
    stream_items: int = 50_000
    stream_mib: int = 1024
    # The storage rows' large object, in MiB.
    storage_mib: int = 256
    # The pipeline rows: small items through four stages, and MiB pushed to a slow sink.
    pipeline_items: int = 100_000
    pipeline_sink_mib: int = 256

    @property
    def mib(self) -> int:
        return MIB

    @property
    def big_bytes(self) -> int:
        return self.big_mib * MIB

    @property
    def stream_bytes(self) -> int:
        return self.stream_mib * MIB

    @property
    def storage_bytes(self) -> int:
        return self.storage_mib * MIB

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Counts:
        return cls(**json.loads(text))


QUICK = Counts(
    warmup=50,
    calls=300,
    stream=3000,
    no_return=5000,
    payload_calls=10,
    big_calls=2,
    broadcast_calls=100,
    stream_items=10_000,
    stream_mib=64,
    storage_mib=32,
    pipeline_items=20_000,
    pipeline_sink_mib=32,
)


@dataclass(frozen=True)
class Transport:
    """Where the caller, the callees and the raw echo server listen."""

    name: str
    workdir: str
    port: int = 0

    @classmethod
    def make(cls, name: str, workdir: str) -> Transport:
        return cls(name, workdir, free_port() if name == "tcp" else 0)

    def caller_options(self) -> dict[str, object]:
        """``Global`` keyword arguments that reach the controller (a UNIX socket under the work dir)."""
        return {"host": "127.0.0.1", "port": self.port} if self.name == "tcp" else {}

    def callee_args(self) -> list[str]:
        return ["--host", "127.0.0.1", "--port", str(self.port)] if self.name == "tcp" else []

    def raw_listen(self) -> str:
        return "127.0.0.1:0" if self.name == "tcp" else f"unix:{self.workdir}/raw-echo.sock"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
