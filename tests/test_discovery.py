"""Discovery: the nodes of one mesh find each other over mDNS with no controller (issue 3).

Multi-host cases run nodes in network namespaces joined by a bridge, which the tests create (root
only) and always delete. In the machine's own namespace mDNS runs on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from mesh import FG, Global, UsageError
from tests._support.lan import Lan, first_view, line_time, ready_time, unique, views
from tests._support.proc import MESH_COMMAND, Proc

pytestmark = pytest.mark.timeout(90)

LOOPBACK = ["127.0.0.1"]


def _three_nodes(lan: Callable[[int], Lan], hosts: int = 3, probe: str | None = None) -> tuple[Lan, list[Proc]]:
    """Nodes a, b, c on hosts 1-3, once each sees all three."""
    network = lan(hosts)
    extra = ("--probe", probe) if probe else ()
    nodes = [network.node(1, "a", *extra), network.node(2, "b"), network.node(3, "c")]
    for node in nodes:
        first_view(node, lambda v: v == {"a", "b", "c"}, after=0)
    return network, nodes


# ---------------------------------------------------------------------- several hosts


def test_three_hosts_find_each_other_within_3_s(lan: Callable[[int], Lan]) -> None:
    network = lan(3)
    nodes = [network.node(i, name) for i, name in enumerate("abc", 1)]
    readies = [n.wait_line("READY").split() for n in nodes]
    for i, (_, _, address) in enumerate(readies, 1):
        assert address.startswith(f"169.254.77.{i}:"), "a node listening on 0.0.0.0 names a concrete address"
    last_start = max(float(r[1]) for r in readies)
    for node in nodes:
        found = first_view(node, lambda v: v == {"a", "b", "c"}, after=0)
        assert found - last_start < 3.0, f"found all {found - last_start:.2f} s after the last node started"


def test_broadcast_reaches_all_three_and_mesh_ls_lists_them(lan: Callable[[int], Lan]) -> None:
    network, nodes = _three_nodes(lan)
    nodes[0].signal(signal.SIGUSR1)
    assert json.loads(nodes[0].wait_line("BROADCAST").split(maxsplit=1)[1]) == {"a": "a", "b": "b", "c": "c"}
    ls = network.run_in(1, MESH_COMMAND, "ls", "--mesh", "lab")
    assert ls.popen.wait(20) == 0, ls.text()
    rows = {line.split()[0]: line.split() for line in ls.text().splitlines()[1:] if line.strip()}
    assert set(rows) == {"a", "b", "c"}, ls.text()
    for i, name in enumerate("abc", 1):
        assert rows[name][1].startswith(f"169.254.77.{i}:")
        assert f"ping_{name}," in rows[name] and "whoami" in rows[name]


def test_late_joiner_is_found_within_1_s(lan: Callable[[int], Lan]) -> None:
    network, nodes = _three_nodes(lan, hosts=4)
    late = network.node(4, "d")
    started = ready_time(late)
    everyone = {"a", "b", "c", "d"}
    for node in [*nodes, late]:
        found = first_view(node, lambda v: v == everyone, after=started)
        assert found - started < 1.0, f"{found - started:.2f} s"


def test_clean_stop_is_seen_within_1_s(lan: Callable[[int], Lan]) -> None:
    _, (a, b, c) = _three_nodes(lan)
    stopped_at = time.monotonic()
    c.signal(signal.SIGTERM)
    for node in (a, b):
        gone = first_view(node, lambda v: v == {"a", "b"}, after=stopped_at)
        assert gone - stopped_at < 1.0, f"{gone - stopped_at:.2f} s"
    c.wait_line("STOPPED")


def test_sigkill_fails_calls_within_3_s_and_leaves_every_view_within_5_s(lan: Callable[[int], Lan]) -> None:
    # mDNS still lists the killed node (no goodbye was sent): only the links tell it is gone.
    _, (a, b, c) = _three_nodes(lan, probe="c")
    a.wait_line("CALLOK")
    killed_at = time.monotonic()
    c.signal(signal.SIGKILL)
    assert line_time(a, "CALLFAIL") - killed_at < 3.0
    for node in (a, b):
        gone = first_view(node, lambda v: v == {"a", "b"}, after=killed_at)
        assert gone - killed_at < 5.0, f"{gone - killed_at:.2f} s"


def test_host_cut_off_leaves_every_view_within_5_s(lan: Callable[[int], Lan]) -> None:
    # Nothing closes the links: the keepalive pings find out, then a redial fails.
    if shutil.which("nft") is None:
        pytest.skip("the nft command is missing: install nftables")
    network, (a, b, _) = _three_nodes(lan, probe="c")
    a.wait_line("CALLOK")
    cut_at = time.monotonic()
    network.cut(3)
    assert line_time(a, "CALLFAIL") - cut_at < 3.0
    for node in (a, b):
        gone = first_view(node, lambda v: v == {"a", "b"}, after=cut_at)
        assert gone - cut_at < 5.0, f"{gone - cut_at:.2f} s"


def test_restart_under_the_same_name_is_reconnected_within_3_s(lan: Callable[[int], Lan]) -> None:
    network, (a, b, c) = _three_nodes(lan)
    killed_at = time.monotonic()
    c.signal(signal.SIGKILL)
    for node in (a, b):
        first_view(node, lambda v: v == {"a", "b"}, after=killed_at)
    again = network.node(3, "c")
    started = ready_time(again)
    for node in (a, b, again):
        back = first_view(node, lambda v: v == {"a", "b", "c"}, after=started)
        assert back - started < 3.0, f"{back - started:.2f} s"
    a.signal(signal.SIGUSR1)
    assert json.loads(a.wait_line("BROADCAST").split(maxsplit=1)[1]) == {"a": "a", "b": "b", "c": "c"}


def test_two_meshes_on_one_lan_stay_apart(lan: Callable[[int], Lan]) -> None:
    network = lan(4)
    lab = [network.node(1, "a"), network.node(2, "b")]
    other = [network.node(3, "x", mesh="other"), network.node(4, "y", mesh="other")]
    for node in lab:
        first_view(node, lambda v: v == {"a", "b"}, after=0)
    for node in other:
        first_view(node, lambda v: v == {"x", "y"}, after=0)
    time.sleep(2.0)  # time enough for every announcement to reach every host
    for node in lab:
        assert all(names <= {"a", "b"} for _, names in views(node)), node.text()
    for node in other:
        assert all(names <= {"x", "y"} for _, names in views(node)), node.text()


# ---------------------------------------------------------------------- this machine, on 127.0.0.1


@pytest.fixture
def loopback_node(spawn: Callable[..., Proc]) -> Callable[..., Proc]:
    """Start ``tests/_support/lan_node.py`` discovering on 127.0.0.1 only."""

    def start(name: str, mesh: str, *args: str, secret: str | None = None) -> Proc:
        proc = spawn(
            "--name", name, "--mesh", mesh, "--interfaces", *LOOPBACK, "--listen", "127.0.0.1:0", *args,
            module="tests._support.lan_node", extra_env={"MESH_SECRET": secret} if secret else None,
        )  # fmt: skip
        proc.wait_line("READY")
        return proc

    return start


def _wait_names(g: Global, expected: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while {m["name"] for m in g.members()} != expected:
        assert time.monotonic() < deadline, f"members {g.members()} are not {expected} after {timeout} s"
        time.sleep(0.02)


def test_discovered_peer_is_called_with_no_controller(loopback_node: Callable[..., Proc]) -> None:
    mesh = unique("m")
    loopback_node("peer", mesh)
    with Global("here", discovery=True, mesh_name=mesh, interfaces=LOOPBACK) as g:
        assert g.address.startswith("127.0.0.1:")
        g.wait_function("ping_peer", timeout=3)
        assert g.call.ping_peer() & FG(timeout=5) == "peer"
        assert g.statistics()["members"] == 2


def test_sigkilled_peer_leaves_the_view_on_loopback(loopback_node: Callable[..., Proc]) -> None:
    mesh = unique("m")
    victim = loopback_node("victim", mesh)
    with Global("here", discovery=True, mesh_name=mesh, interfaces=LOOPBACK) as g:
        g.wait_process("victim", timeout=3)
        victim.signal(signal.SIGKILL)
        _wait_names(g, {"here"}, timeout=5)


def test_node_with_another_secret_is_not_linked_and_a_warning_says_why(
    loopback_node: Callable[..., Proc], caplog: pytest.LogCaptureFixture
) -> None:
    mesh = unique("m")
    loopback_node("stranger", mesh, secret="one secret")
    with Global("here", discovery=True, mesh_name=mesh, interfaces=LOOPBACK, secret="another secret") as g:
        deadline = time.monotonic() + 5
        while "cannot be linked" not in caplog.text:
            assert time.monotonic() < deadline, "no warning about the node that cannot be linked"
            time.sleep(0.05)
        assert "stranger at 127.0.0.1:" in caplog.text
        assert {m["name"] for m in g.members()} == {"here"}


def test_other_meshes_are_ignored(loopback_node: Callable[..., Proc]) -> None:
    ours, theirs = unique("m"), unique("m")
    loopback_node("stranger", theirs)
    with (
        Global("theirs", discovery=True, mesh_name=theirs, interfaces=LOOPBACK) as g_theirs,
        Global("ours", discovery=True, mesh_name=ours, interfaces=LOOPBACK) as g_ours,
    ):
        g_theirs.wait_process("stranger", timeout=3)
        _wait_names(g_theirs, {"theirs", "stranger"}, timeout=3)
        assert {m["name"] for m in g_ours.members()} == {"ours"}


def test_node_joins_the_controller_it_discovers(loopback_node: Callable[..., Proc]) -> None:
    mesh = unique("m")
    with Global(init_controller=True, init_node=False, discovery=True, mesh_name=mesh, interfaces=LOOPBACK) as ctl:
        assert ctl.controller_address.startswith("127.0.0.1:")
        loopback_node("member", mesh)
        _wait_names(ctl, {"member"}, timeout=5)


def test_node_moves_to_another_controller_when_its_own_says_goodbye(loopback_node: Callable[..., Proc]) -> None:
    mesh = unique("m")
    settings = {"init_controller": True, "init_node": False, "discovery": True, "mesh_name": mesh}
    first = Global(**settings, interfaces=LOOPBACK)  # type: ignore[arg-type]
    try:
        loopback_node("member", mesh)
        _wait_names(first, {"member"}, timeout=5)
    finally:
        first.stop()
    with Global(**settings, interfaces=LOOPBACK) as second:  # type: ignore[arg-type]
        _wait_names(second, {"member"}, timeout=5)


def test_mesh_controller_announces_itself(spawn: Callable[..., Proc], loopback_node: Callable[..., Proc]) -> None:
    mesh = unique("m")
    ctl = spawn("controller", "-v", "--discovery", "--mesh", mesh, "--interfaces", *LOOPBACK, module="mesh")
    assert ctl.wait_line("controller listening").split()[-1].startswith("127.0.0.1:")
    loopback_node("member", mesh)
    deadline = time.monotonic() + 5
    while "member joined: member" not in ctl.text():
        assert time.monotonic() < deadline, ctl.text()
        time.sleep(0.05)


def test_mesh_ls_lists_and_watches_discovered_members(
    loopback_node: Callable[..., Proc], spawn: Callable[..., Proc]
) -> None:
    mesh = unique("m")
    first = loopback_node("first", mesh)
    listing = subprocess.run(
        [MESH_COMMAND, "ls", "--mesh", mesh, "--interfaces", *LOOPBACK], capture_output=True, text=True, timeout=30
    )
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "CALLBACKS"]
    name, address, *callbacks = lines[1].split()
    assert (name, len(lines)) == ("first", 2)
    assert address.startswith("127.0.0.1:")
    assert callbacks == ["ping_first,", "whoami"]

    watch = spawn("ls", "--watch", "--mesh", mesh, "--interfaces", *LOOPBACK, module="mesh")
    watch.wait_line("first")
    first.signal(signal.SIGTERM)
    watch.wait_line(f"no nodes of mesh {mesh!r} found", timeout=5)  # printed again, without the stopped node


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"interfaces": LOOPBACK}, "needs discovery=True"),
        ({"discovery": True, "interfaces": "127.0.0.1"}, "not a single string"),
        ({"discovery": True, "interfaces": ["no-such-if0"]}, "'no-such-if0' is neither"),
        ({"discovery": True, "interfaces": ["127.0.0.1"], "listen": "unix:/tmp/x.sock"}, "is a UNIX socket"),
        ({"discovery": True, "interfaces": ["127.0.0.1"], "mesh_name": "m" * 300}, "mesh_name is 300 bytes long"),
    ],
)
def test_bad_discovery_settings_are_refused_with_a_clear_error(settings: dict[str, object], complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        Global("bad", **settings)  # type: ignore[arg-type]
