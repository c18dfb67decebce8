"""Mutual TLS: node links and the controller over certificates the tests make (``tests/_support/certs.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import FG, AuthenticationError, Global, TLSConfig, UsageError
from mesh.membership._membership import Member
from mesh.node._config import NodeConfig
from mesh.node._node import Node
from mesh.wire._security import check_listen_address
from tests._support.certs import Authority
from tests._support.proc import Proc, free_port

pytestmark = pytest.mark.timeout(60)

CERT_REFUSED = "the peer's certificate was refused"


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority.create("grpcmesh test CA")


@pytest.fixture(scope="module")
def stranger() -> Authority:
    return Authority.create("some other CA")


def _tls_args(tls: TLSConfig) -> list[str]:
    return ["--tls", str(tls.cert), str(tls.key), str(tls.ca)]


def _foreign(stranger: Authority, authority: Authority, folder: Path) -> TLSConfig:
    """A certificate from another CA, held by a process that trusts both CAs: only its certificate is wrong."""
    foreign = stranger.tls("foreign", folder)
    (folder / "ca.crt").write_bytes(stranger.pem + authority.pem)
    return foreign


def test_nodes_join_and_call_over_mutual_tls(authority: Authority, tmp_path: Path, spawn: Callable[..., Proc]) -> None:
    port = free_port()
    tls = authority.tls("main", tmp_path / "main")
    with Global(process_name="main", init_controller=True, host="127.0.0.1", port=port, tls=tls) as g:
        peer_tls = authority.tls("peer", tmp_path / "peer")
        proc = spawn("--name", "peer", "--host", "127.0.0.1", "--port", str(port), *_tls_args(peer_tls))
        proc.wait_line("READY")
        g.wait_process("peer", timeout=10)
        assert g.call.whoami() & FG == "peer"
        assert g.call.echo(b"x" * 100_000) & FG == b"x" * 100_000


def test_tls_and_secret_together_over_unix_sockets(
    authority: Authority, tmp_path: Path, spawn: Callable[..., Proc]
) -> None:
    tls = authority.tls("main", tmp_path / "main")
    with Global(process_name="main", init_controller=True, tls=tls, secret="both", discovery=False) as g:
        assert g.address.startswith("unix:")
        peer_tls = authority.tls("peer", tmp_path / "peer")
        spawn("--name", "peer", "--secret", "both", *_tls_args(peer_tls)).wait_line("READY")
        g.wait_process("peer", timeout=10)
        assert g.call.add(20, 22) & FG == 42


@pytest.mark.parametrize("whose", ["node's", "controller's"])
def test_a_certificate_from_another_ca_is_refused_at_join(
    whose: str, authority: Authority, stranger: Authority, tmp_path: Path, spawn: Callable[..., Proc]
) -> None:
    """Either side refuses: the controller a foreign node certificate, a node a foreign controller's."""
    port = free_port()
    ours = authority.tls("main", tmp_path / "main")
    foreign = _foreign(stranger, authority, tmp_path / "foreign")
    node_tls, controller_tls = (foreign, ours) if whose == "node's" else (ours, foreign)
    with Global(
        process_name="main", init_controller=True, init_node=False, host="127.0.0.1", port=port, tls=controller_tls
    ):
        started = time.monotonic()
        proc = spawn("--name", "intruder", "--host", "127.0.0.1", "--port", str(port), *_tls_args(node_tls))
        proc.popen.wait(15)
        output = proc.text()
    assert time.monotonic() - started < 15
    assert "AuthenticationError" in output and CERT_REFUSED in output, output
    assert "READY" not in output


def test_link_to_a_node_with_a_foreign_certificate_fails_with_authentication_error(
    authority: Authority, stranger: Authority, tmp_path: Path, spawn: Callable[..., Proc]
) -> None:
    foreign = _foreign(stranger, authority, tmp_path / "foreign")
    proc = spawn("--name", "peer", "--controller", "--listen", "127.0.0.1:0", *_tls_args(foreign))
    address = proc.wait_line("READY").split()[1]
    ours = authority.tls("main", tmp_path / "main")

    async def scenario() -> None:
        node = Node(NodeConfig(name="main", listen=f"unix:{tmp_path / 'main.sock'}", tls=ours))
        await node.start()
        try:
            member = Member(node_id="f" * 32, name="peer", address=address, callbacks=frozenset({"add"}))
            with pytest.raises(AuthenticationError, match=CERT_REFUSED):
                await node.link_to(member)
            assert node.statistics()["links"] == 0
        finally:
            await node.stop(1.0)

    asyncio.run(scenario())


def test_standalone_controller_serves_mutual_tls(
    authority: Authority, tmp_path: Path, spawn: Callable[..., Proc]
) -> None:
    port = free_port()
    ctl_tls = authority.tls("controller", tmp_path / "controller")
    ctl = spawn(
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--tls-cert",
        str(ctl_tls.cert),
        "--tls-key",
        str(ctl_tls.key),
        "--tls-ca",
        str(ctl_tls.ca),
        module="controller",
    )
    ctl.wait_line("controller listening")
    tls = authority.tls("main", tmp_path / "main")
    with Global(process_name="main", host="127.0.0.1", port=port, tls=tls) as g:
        assert [m["name"] for m in g.members()] == ["main"]


def test_tls_allows_non_loopback_addresses() -> None:
    """The safe-default check passes with TLS (not bound here: tests use loopback only)."""
    tls = TLSConfig(cert=b"-----BEGIN CERTIFICATE-----", key=b"-----BEGIN KEY-----", ca=b"-----BEGIN CERTIFICATE-----")
    check_listen_address("0.0.0.0", None, tls, "node", "0.0.0.0:1")
    with pytest.raises(UsageError):
        check_listen_address("0.0.0.0", None, None, "node", "0.0.0.0:1")


def test_tls_config_names_the_bad_field(authority: Authority, tmp_path: Path) -> None:
    good = authority.tls("main", tmp_path)
    with pytest.raises(UsageError, match=r"TLSConfig\.key: cannot read '.*missing\.key'"):
        TLSConfig(cert=good.cert, key=tmp_path / "missing.key", ca=good.ca)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(UsageError, match=r"TLSConfig\.ca: .*junk\.pem' is not PEM"):
        TLSConfig(cert=good.cert, key=good.key, ca=tmp_path / "junk.pem")
