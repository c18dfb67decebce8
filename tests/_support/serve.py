"""``mesh serve SERVICE ...`` as a child process of a test, joined to a controller on loopback."""

from __future__ import annotations

from collections.abc import Callable

from tests._support.proc import Proc


def mesh_serve(
    spawn: Callable[..., Proc],
    service: str,
    port: int,
    *options: str,
    name: str,
    extra_env: dict[str, str] | None = None,
) -> Proc:
    """Start ``mesh serve SERVICE OPTIONS`` as node ``name`` of the controller at 127.0.0.1:``port``; return it
    once it says it serves."""
    proc = spawn(
        "serve", service, *options, "--host", "127.0.0.1", "--port", str(port), "--name", name,
        module="mesh", extra_env=extra_env,
    )  # fmt: skip
    proc.wait_line(f"{service} serving")
    return proc
