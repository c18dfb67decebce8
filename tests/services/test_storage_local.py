"""The local directory backend through the mesh: writes are atomic (a reader sees the old object until the
new one is whole), symbolic links out of the root are refused, and a full disk keeps the old file."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mesh import BG, FG, Global, UsageError, stream
from mesh.services import Storage
from mesh.services.storage import LocalBackend

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024
Make = Callable[..., tuple[Global, Storage]]


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_a_reader_sees_the_old_object_until_the_new_one_is_whole(storage_mesh: Make, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _, st = storage_mesh(LocalBackend(root))
    st.put("doc", b"old") & FG
    halfway, go_on = threading.Event(), threading.Event()

    def slow() -> Iterator[bytes]:
        yield b"n" * MiB
        halfway.set()
        go_on.wait(10)
        yield b"e" * MiB

    pending = st.put("doc", stream(slow())) & BG
    assert halfway.wait(10)
    assert st.get("doc") & FG == b"old"
    assert st.list() & FG == ["doc"]
    temporary = [name for name in files_under(root) if name != "doc"]
    assert len(temporary) == 1 and temporary[0].startswith(".storage-tmp-")
    go_on.set()
    assert pending.get(timeout=10).size == 2 * MiB
    assert st.get("doc") & FG == b"n" * MiB + b"e" * MiB
    assert files_under(root) == ["doc"]


def test_a_symbolic_link_out_of_the_root_is_refused(storage_mesh: Make, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not yours")
    _, st = storage_mesh(LocalBackend(root))
    (root / "link").symlink_to(outside / "secret")
    (root / "folder").symlink_to(outside, target_is_directory=True)
    for path in ("link", "folder/secret", "folder/new"):
        for call in (st.get(path), st.put(path, b"overwrite"), st.stat(path), st.delete(path)):
            with pytest.raises(UsageError, match=f"storage path '{path}' leads out of the root"):
                call & FG
    assert (outside / "secret").read_bytes() == b"not yours"
    assert sorted(os.listdir(outside)) == ["secret"]
    assert st.list() & FG == []


def test_a_symbolic_link_inside_the_root_is_followed(storage_mesh: Make, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _, st = storage_mesh(LocalBackend(root))
    st.put("real/data", b"here") & FG
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert st.get("alias/data") & FG == b"here"


def test_names_that_clash_with_folders_say_so(storage_mesh: Make, tmp_path: Path) -> None:
    _, st = storage_mesh(LocalBackend(tmp_path / "root"))
    st.put("a/b", b"1") & FG
    with pytest.raises(IsADirectoryError, match="a directory of local directory"):
        st.put("a", b"2") & FG
    with pytest.raises(NotADirectoryError, match="a part of the path is an object"):
        st.put("a/b/c", b"3") & FG
    st.delete("a/b") & FG
    assert not (tmp_path / "root" / "a").exists(), "the folder left empty is removed"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted at a folder of this test (root only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)]
    mounted = subprocess.run(mount, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.mark.parametrize("direct", [True, False], ids=["through-an-open-file", "through-the-mesh"])
def test_a_full_disk_raises_and_keeps_the_old_file(storage_mesh: Make, small_disk: Path, direct: bool) -> None:
    g, st = storage_mesh(LocalBackend(small_disk), direct=direct)
    st.put("report", b"the old report") & FG
    with pytest.raises(OSError, match=r"no space left on the disk of local directory .*; the old object is kept"):
        st.put("report", stream(iter([b"x" * MiB] * 4))) & FG
    assert st.get("report") & FG == b"the old report"
    assert files_under(small_disk) == ["report"], "the temporary file is removed"
    with pytest.raises(OSError, match="no space left"):
        st.put("report", b"y" * 3 * MiB) & FG
    assert st.get("report") & FG == b"the old report"
    assert (st.put("other", b"small") & FG).size == 5, "the disk is usable again"
    assert (g.call.storage.statistics() & FG)["fds_passed"] == (2 if direct else 0)


def test_a_root_that_cannot_be_made_names_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(UsageError, match=r"cannot use .*file/root' as the storage's root directory"):
        LocalBackend(tmp_path / "file" / "root")
