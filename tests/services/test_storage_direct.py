"""The same-machine short-circuit of the local directory: large objects are read and written through an open
file the service hands over its side door (a UNIX socket, SCM_RIGHTS), not through gRPC; the mesh's path
takes over when the door cannot be reached; tokens are good once, for a while, and only the right ones;
the path checks, the atomic write and the full-disk guarantee hold as through the mesh."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh import BG, FG, STREAM, Global, UsageError, stream
from mesh.services import Storage
from mesh.services.storage import LocalBackend
from mesh.services.storage._direct_io import Opened
from mesh.services.storage.backends import Grant, boot_id
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024
Make = Callable[..., tuple[Global, Storage]]


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def counts(g: Global) -> dict[str, int]:
    found: dict[str, int] = g.call.storage.statistics() & FG
    return found


def bytes_sent_by_store(g: Global) -> int:
    """What the store's node has sent the client's through gRPC so far."""
    snapshot: dict[str, Any] = g.call.mesh.stats() & FG(receiver="store")
    return sum(link["bytes_out"] for link in snapshot["links"] if link["peer"] == g.node_name)


def test_large_objects_go_through_an_open_file_not_grpc(storage_mesh: Make, tmp_path: Path) -> None:
    root = tmp_path / "root"
    g, st = storage_mesh(LocalBackend(root))
    block = os.urandom(MiB)
    before = bytes_sent_by_store(g)
    assert (st.put("whole", block * 3) & FG).size == 3 * MiB
    assert (st.put("streamed", stream(iter([block] * 8))) & FG).size == 8 * MiB
    assert st.get("whole") & FG == block * 3
    chunks = list(st.get_stream("streamed", chunk_size=MiB) & STREAM)
    assert chunks == [block] * 8
    assert bytes_sent_by_store(g) - before < MiB, "the objects' bytes crossed gRPC"
    assert (root / "streamed").read_bytes() == block * 8
    assert files_under(root) == ["streamed", "whole"], "no temporary file is left"
    assert counts(g) == {
        "inline_reads": 0, "fd_reads": 2, "fd_writes": 2, "url_reads": 0, "url_writes": 0, "fds_passed": 4,
    }  # fmt: skip


def test_small_objects_come_whole_in_one_call(storage_mesh: Make, tmp_path: Path) -> None:
    g, st = storage_mesh(LocalBackend(tmp_path / "root"))
    st.put("small", b"s" * 1000) & FG
    assert st.get("small") & FG == b"s" * 1000
    assert list(st.get_stream("small", chunk_size=400) & STREAM) == [b"s" * 400, b"s" * 400, b"s" * 200]
    found = counts(g)
    assert (found["inline_reads"], found["fds_passed"]) == (2, 0)


@pytest.mark.parametrize("off", ["service", "client"])
def test_direct_off_goes_through_the_mesh(storage_mesh: Make, tmp_path: Path, off: str) -> None:
    g, st = storage_mesh(LocalBackend(tmp_path / "root"), direct=off != "service")
    if off == "client":
        st = Storage(g, direct=False)
    block = os.urandom(MiB)
    before = bytes_sent_by_store(g)
    st.put("big", stream(iter([block] * 2))) & FG
    st.put("bytes", block * 2) & FG
    assert b"".join(st.get_stream("big") & STREAM) == block * 2
    assert st.get("bytes") & FG == block * 2
    assert bytes_sent_by_store(g) - before > 4 * MiB
    assert counts(g)["fds_passed"] == 0


def test_a_side_door_out_of_reach_falls_back_to_the_mesh(storage_mesh: Make, tmp_path: Path) -> None:
    root = tmp_path / "root"
    backend = LocalBackend(root)
    g, st = storage_mesh(backend)
    block = os.urandom(MiB)
    st.put("first", block * 2) & FG
    assert counts(g)["fds_passed"] == 1
    os.unlink(backend.door.path)  # as a client in another container or on another machine sees it
    st.put("second", stream(iter([block] * 2))) & FG
    st.put("third", block * 2) & FG
    assert st.get("second") & FG == block * 2
    assert b"".join(st.get_stream("third") & STREAM) == block * 2
    found = counts(g)
    assert (found["fd_writes"], found["fd_reads"], found["fds_passed"]) == (3, 2, 1)
    assert files_under(root) == ["first", "second", "third"], "the grants given back left no temporary file"


def test_escape_checks_hold_for_large_objects(storage_mesh: Make, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"x" * 2 * MiB)
    g, st = storage_mesh(LocalBackend(root))
    (root / "link").symlink_to(outside / "secret")
    (root / "folder").symlink_to(outside, target_is_directory=True)
    for path in ("link", "folder/secret", "folder/new"):
        for call in (st.get(path), st.get_stream(path), st.put(path, b"y" * 2 * MiB)):
            with pytest.raises(UsageError, match=f"storage path '{path}' leads out of the root"):
                call & (STREAM if "get_stream" in call.name else FG)
        with pytest.raises(UsageError, match=f"storage path '{path}' leads out of the root"):
            st.put(path, stream(iter([b"y" * MiB]))) & FG
    assert (outside / "secret").read_bytes() == b"x" * 2 * MiB
    assert sorted(os.listdir(outside)) == ["secret"]
    assert counts(g)["fds_passed"] == 0


def test_a_stream_that_fails_keeps_the_old_object(storage_mesh: Make, tmp_path: Path) -> None:
    root = tmp_path / "root"
    g, st = storage_mesh(LocalBackend(root))
    st.put("doc", b"old") & FG

    def failing() -> Iterator[bytes]:
        yield b"n" * MiB
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        st.put("doc", stream(failing())) & FG
    with pytest.raises(TypeError, match="item 1 of the stream is str, not bytes"):
        st.put("doc", stream(iter([b"n", "text"]))) & FG
    assert st.get("doc") & FG == b"old"
    assert files_under(root) == ["doc"]
    assert counts(g)["fd_writes"] == 2


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    opened = LocalBackend(tmp_path / "root")
    opened.write("doc", [b"the object"])
    yield opened
    opened.close()


def test_a_token_is_good_once(backend: LocalBackend) -> None:
    grant = backend.grant_read("doc", boot_id())
    assert grant is not None
    with Opened(grant) as opened:
        assert os.pread(opened.fd, 100, 0) == b"the object"
        with pytest.raises(OSError):
            os.write(opened.fd, b"read-only")
    with pytest.raises(PermissionError, match="refused its token: the token is unknown, used or expired"):
        Opened(grant)


def test_a_wrong_token_is_refused(backend: LocalBackend) -> None:
    real = backend.grant_read("doc", boot_id())
    assert real is not None
    with pytest.raises(PermissionError, match=f"the side door of {backend.description} refused its token"):
        Opened(Grant("fd", real.where, real.about, "not-the-token", real.machine))
    with Opened(real) as opened:
        assert os.pread(opened.fd, 100, 0) == b"the object", "a wrong token does not spend the right one"


def test_tokens_expire_and_an_expired_write_leaves_no_file(backend: LocalBackend, tmp_path: Path) -> None:
    backend.door.ttl = 0.2
    read = backend.grant_read("doc", boot_id())
    write = backend.grant_write("doc", boot_id(), -1)
    assert read is not None and write is not None
    assert len(files_under(tmp_path / "root")) == 2
    time.sleep(0.4)
    for grant in (read, write):
        with pytest.raises(PermissionError, match="unknown, used or expired"):
            Opened(grant)
    wait_until(lambda: files_under(tmp_path / "root") == ["doc"], 5, "the expired write's file to go")
    with pytest.raises(UsageError, match="no write in progress has this token"):
        backend.commit(write.token)


def test_a_write_whose_connection_ends_without_commit_is_discarded(backend: LocalBackend, tmp_path: Path) -> None:
    grant = backend.grant_write("doc", boot_id(), -1)
    assert grant is not None
    with Opened(grant) as opened:
        os.write(opened.fd, b"half of the new")
    wait_until(lambda: files_under(tmp_path / "root") == ["doc"], 5, "the abandoned write's file to go")
    assert (tmp_path / "root" / "doc").read_bytes() == b"the object"
    with pytest.raises(UsageError, match="no write in progress has this token"):
        backend.commit(grant.token)


def test_another_machine_gets_no_file(backend: LocalBackend) -> None:
    assert backend.grant_read("doc", "another-boot-id") is None
    assert backend.grant_write("doc", "another-boot-id", 10) is None


def test_the_side_door_is_private_and_goes_on_close(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "root")
    backend.write("doc", [b"1"])
    assert backend.grant_read("doc", boot_id()) is not None
    folder = os.path.dirname(backend.door.path)
    assert os.stat(folder).st_mode & 0o777 == 0o700
    backend.close()
    assert not os.path.exists(folder)


def test_other_modifiers_and_async_code_go_through_the_mesh(storage_mesh: Make, tmp_path: Path) -> None:
    g, st = storage_mesh(LocalBackend(tmp_path / "root"))
    data = os.urandom(2 * MiB)
    assert st.put("big", data).bg().get(timeout=10).size == 2 * MiB
    assert (st.get("big") & BG).get(timeout=10) == data
    assert st.get("big").fg(timeout=10) == data, "fg() is & FG"

    async def main() -> tuple[bytes, bytes]:
        plain = await st.get("big")
        modified = await st.get("big") & FG(timeout=10)
        return plain, modified

    assert asyncio.run(main()) == (data, data)
    assert counts(g)["fds_passed"] == 1, "only fg() went through the open file"


def test_a_side_door_that_cannot_open_leaves_the_mesh_path(
    storage_mesh: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    g, st = storage_mesh(LocalBackend(root))
    far = tmp_path / ("deep" * 30)  # a UNIX socket's path holds 107 bytes at most
    far.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(far))  # where the door opens, at the first grant
    block = os.urandom(MiB)
    st.put("big", block * 3) & FG
    st.put("streamed", stream(iter([block] * 3))) & FG
    assert st.get("big") & FG == block * 3
    assert b"".join(st.get_stream("streamed") & STREAM) == block * 3
    assert counts(g)["fds_passed"] == 0
    assert files_under(root) == ["big", "streamed"]
    assert os.listdir(far) == [], "the door's folder is removed when its socket cannot be made"
