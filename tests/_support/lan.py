"""A LAN of network namespaces for multi-host tests, and readers of the output of tests/_support/lan_node.py.

Hosts are network namespaces joined by a bridge, which the tests create (root only) and always
delete; the ``lan`` fixture of tests/conftest.py makes them. In the machine's own namespace mDNS runs
on 127.0.0.1 only.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests._support.proc import Proc

_runs = itertools.count()

Names = frozenset[str]


def unique(prefix: str) -> str:
    """A name no other test run uses at the same time."""
    return f"{prefix}{os.getpid()}x{next(_runs)}"


# ---------------------------------------------------------------------- reading the nodes' output


def ready_time(proc: Proc) -> float:
    return float(proc.wait_line("READY").split()[1])


def views(proc: Proc) -> list[tuple[float, Names]]:
    found = []
    for line in list(proc.output):
        if line.startswith("VIEW "):
            _, stamp, *names = line.split()
            found.append((float(stamp), frozenset(names[0].split(",")) if names else frozenset()))
    return found


def first_view(proc: Proc, predicate: Callable[[Names], bool], after: float, patience: float = 10.0) -> float:
    """When ``proc`` first saw a view that satisfies ``predicate``, at or after ``after``."""
    deadline = time.monotonic() + patience
    while True:
        for stamp, names in views(proc):
            if stamp >= after and predicate(names):
                return stamp
        if time.monotonic() > deadline:
            raise AssertionError(f"no such view from {proc.args[-6:]} within {patience} s:\n{proc.text()}")
        time.sleep(0.05)


def line_time(proc: Proc, prefix: str, timeout: float = 15.0) -> float:
    return float(proc.wait_line(prefix, timeout).split()[1])


# ---------------------------------------------------------------------- a LAN of network namespaces


class Lan:
    """Hosts ``1..n`` (network namespaces with 169.254.77.<i>/24 on a veth) on one bridge."""

    def __init__(self, hosts: int, tmp_path: Path) -> None:
        self.prefix = unique("gm")
        self.bridge = f"{self.prefix}h"
        self.hosts = [f"{self.prefix}n{i}" for i in range(1, hosts + 1)]
        self.secret = f"secret-{self.prefix}"
        self.env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1", MESH_SECRET=self.secret)
        self.procs: list[Proc] = []
        self.made: list[str] = []

    def create(self) -> None:
        self._netns_add(self.bridge)
        _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge, "link", "set", "br0", "up")
        for i, host in enumerate(self.hosts, 1):
            self._netns_add(host)
            _ip("link", "add", f"v{i}", "netns", host, "type", "veth", "peer", "name", f"b{i}", "netns", self.bridge)
            _ip("-n", self.bridge, "link", "set", f"b{i}", "master", "br0")
            _ip("-n", self.bridge, "link", "set", f"b{i}", "up")
            _ip("-n", host, "addr", "add", f"169.254.77.{i}/24", "dev", f"v{i}")
            _ip("-n", host, "link", "set", f"v{i}", "up")
            _ip("-n", host, "link", "set", "lo", "up")

    def _netns_add(self, name: str) -> None:
        _ip("netns", "add", name)
        self.made.append(name)

    def node(self, host: int, name: str, *args: str, mesh: str = "lab") -> Proc:
        """Start ``lan_node`` on host ``host`` (1-based), listening on 0.0.0.0."""
        return self.run_in(host, sys.executable, "-m", "tests._support.lan_node", "--name", name, "--mesh", mesh, *args)

    def default_node(self, host: int, name: str, *args: str) -> Proc:
        """Start ``lan_node`` on host ``host`` with ``Global``'s defaults (the secret in its environment)."""
        return self.run_in(host, sys.executable, "-m", "tests._support.lan_node", "--name", name, "--defaults", *args)

    def run_in(self, host: int, *command: str) -> Proc:
        proc = Proc(["ip", "netns", "exec", self.hosts[host - 1], *command], env=self.env)
        self.procs.append(proc)
        return proc

    def cut(self, host: int) -> None:
        """Drop every packet reaching ``host`` from the LAN (a hung host or a pulled cable)."""
        rules = "add table inet cut\nadd chain inet cut in { type filter hook input priority 0; }\n"
        rules += "add rule inet cut in iifname != lo drop\n"
        subprocess.run(
            ["ip", "netns", "exec", self.hosts[host - 1], "nft", "-f", "-"], input=rules, text=True, check=True
        )

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
