"""The storage service through the mesh, over the in-memory and the local directory backends: each call
and modifier, streams both ways, and the errors of bad input on the caller, as their own types."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mesh import BG, FG, NO_RETURN, STREAM, Global, PayloadTooLarge, UsageError, stream
from mesh.services import Storage
from mesh.services.storage import Backend, LocalBackend, MemoryBackend, ObjectInfo, serve_storage
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024
Make = Callable[..., tuple[Global, Storage]]


@pytest.fixture(params=["memory", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return MemoryBackend() if request.param == "memory" else LocalBackend(tmp_path / "root")


def chunks(data: bytes, size: int = MiB) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def test_put_get_stat_exists_list_delete(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    info = st.put("reports/may.txt", b"spring") & FG
    assert isinstance(info, ObjectInfo)
    assert (info.path, info.size) == ("reports/may.txt", 6)
    st.put("reports/june.txt", bytearray(b"summer!")) & FG
    st.put("notes", memoryview(b"n")) & FG
    assert st.get("reports/may.txt") & FG == b"spring"
    assert (st.stat("reports/june.txt") & FG).size == 7
    assert st.exists("notes") & FG is True
    assert st.exists("reports") & FG is False
    assert st.list() & FG == ["notes", "reports/june.txt", "reports/may.txt"]
    assert st.list("reports/j") & FG == ["reports/june.txt"]
    assert st.list(prefix="rep") & FG == ["reports/june.txt", "reports/may.txt"]
    st.put("reports/may.txt", b"replaced") & FG
    assert st.get("reports/may.txt") & FG == b"replaced"
    assert st.delete("reports/may.txt") & FG is None
    assert st.exists("reports/may.txt") & FG is False
    assert st.list() & FG == ["notes", "reports/june.txt"]


def test_every_modifier_applies(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    pending = st.put("bg", b"in the background") & BG
    assert pending.get(timeout=10).size == 17
    st.put("fire", b"and forget") & NO_RETURN
    wait_until(lambda: st.exists("fire") & FG, 5, "the NO_RETURN put to land")
    assert st.get("bg").fg(timeout=10, receiver="store") == b"in the background"
    assert (st.get("fire") & BG).get(timeout=10) == b"and forget"


def test_the_callbacks_are_offered_by_the_hosting_node_only(storage_mesh: Make, backend: Backend) -> None:
    client, _ = storage_mesh(backend)
    offered = {member["name"]: member["callbacks"] for member in client.members()}
    assert {"storage.put", "storage.get", "storage.get_stream", "storage.list"} <= set(offered["store"])
    assert not [name for name in offered["client"] if name.startswith("storage.")]


def test_a_large_object_streams_in_and_out(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    data = os.urandom(20 * MiB + 123)
    assert (st.put("big.bin", stream(chunks(data))) & FG).size == len(data)
    got = list(st.get_stream("big.bin") & STREAM)
    assert [len(chunk) for chunk in got] == [MiB] * 20 + [123]
    assert b"".join(got) == data
    assert b"".join(st.get_stream("big.bin", chunk_size=7 * MiB) & STREAM) == data


def test_an_empty_object(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    assert (st.put("empty", b"") & FG).size == 0
    assert st.get("empty") & FG == b""
    assert list(st.get_stream("empty") & STREAM) == []
    assert (st.put("empty-stream", stream(iter([]))) & FG).size == 0


def test_a_missing_object_raises_file_not_found_on_the_caller(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    for call in (st.get("nothing/here"), st.stat("nothing/here"), st.delete("nothing/here")):
        with pytest.raises(FileNotFoundError, match="nothing/here"):
            call & FG
    with pytest.raises(FileNotFoundError, match="nothing/here"):
        list(st.get_stream("nothing/here") & STREAM)
    assert st.list("nothing") & FG == []


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../escape", "cannot leave the root"),
        ("a/../../escape", "cannot leave the root"),
        ("/etc/passwd", "absolute"),
        ("", "empty"),
        ("a//b", "has a part ''"),
        ("./a", "has a part '.'"),
        (".storage-tmp-x", "reserved"),
    ],
)
def test_a_path_out_of_the_root_is_refused(storage_mesh: Make, backend: Backend, path: str, problem: str) -> None:
    _, st = storage_mesh(backend)
    for call in (st.put(path, b"x"), st.get(path), st.stat(path), st.exists(path), st.delete(path)):
        with pytest.raises(UsageError, match=problem):
            call & FG
    with pytest.raises(UsageError, match="leave the storage's root"):
        st.list("../") & FG


def test_an_object_over_max_message_size_says_to_stream_it(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend, max_message_size=MiB)
    with pytest.raises(PayloadTooLarge, match=r"stream it in chunks: st\.put\(path, stream\(chunks\)\)"):
        st.put("big", b"x" * MiB)
    st.put("big", stream(chunks(b"x" * 3 * MiB, 256 * 1024))) & FG
    with pytest.raises(PayloadTooLarge, match=r"st\.get_stream\(path\) & STREAM"):
        st.get("big") & FG
    assert sum(len(chunk) for chunk in st.get_stream("big", chunk_size=256 * 1024) & STREAM) == 3 * MiB


def test_bad_data_names_the_problem_and_stores_nothing(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    st.put("kept", b"old") & FG
    with pytest.raises(TypeError, match="data is str; pass bytes, or a stream"):
        st.put("kept", "text") & FG
    with pytest.raises(TypeError, match="item 1 of the stream is int, not bytes"):
        st.put("kept", stream(iter([b"new", 7]))) & FG
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        list(st.get_stream("kept", chunk_size=0) & STREAM)
    assert st.get("kept") & FG == b"old"


def test_a_stream_that_fails_midway_leaves_the_old_object(storage_mesh: Make, backend: Backend) -> None:
    _, st = storage_mesh(backend)
    st.put("kept", b"old") & FG

    def failing() -> Iterator[bytes]:
        yield b"x" * MiB
        yield b"y" * MiB
        raise OSError("the source disk failed")

    with pytest.raises(OSError, match="the source disk failed"):
        st.put("kept", stream(failing())) & FG
    assert st.get("kept") & FG == b"old"
    assert st.list() & FG == ["kept"]


def test_async_code_uses_the_same_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Global(process_name="store", init_controller=True) as host:
            serve_storage(host, LocalBackend(tmp_path / "root"))
            async with Global(process_name="async-client") as client:
                st = Storage(client)
                await client.wait_function("storage.put", timeout=5)
                await (st.put("a", stream(chunks(b"z" * 3 * MiB))) & FG)
                assert await st.exists("a") & FG
                got = [chunk async for chunk in st.get_stream("a") & STREAM]
                assert b"".join(got) == b"z" * 3 * MiB
                with pytest.raises(FileNotFoundError):
                    await st.get("b") & FG

    asyncio.run(scenario())
