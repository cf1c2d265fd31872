"""``unpack``: an image's root written into a directory, compared path by path with the tree the image
was made from (``fixtures/unpack_trees.py``): kind, mode (setuid, setgid, sticky), size, symlink target,
sha256, mtime and atime to the nanosecond, hard-link groups. Then what is skipped, what is refused,
corrupt images, entries that would leave the destination, progress, and a partitioned VHD end to end."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.unpack_trees import (
    open_fs, NS, SPARSE_HOLE_BYTES, Expected, describe_copy, link_groups, listed_paths, make_ext4_image, tool, write_special_tree,
)
from shipyard.errors import ImageFormatError, UsageError
from shipyard.image.build import build_image
from shipyard.image.root import open_image
from shipyard.image.unpack import PROGRESS_STEP_BYTES, UnpackReport, unpack
from shipyard.sources.directory import DirectorySource
from shipyard.sources.tree import TreeEntry


XONLY_MODE = 0o100  # search only: a hard link's first name inside must be reached after the directory is done


@pytest.fixture(scope="module")
def ext4_image(tree, tmp_path_factory) -> Path:
    return make_ext4_image(tree[0], tmp_path_factory.mktemp("ext4") / "root.ext4", tree[1],
                           modes={"/xonly": XONLY_MODE})


@pytest.fixture(scope="module")
def in_image(tree) -> dict[str, Expected]:
    """The tree as the image holds it: ``/xonly`` is 0100 there."""
    return {**tree[1], "/xonly": dataclasses.replace(tree[1]["/xonly"], mode=XONLY_MODE)}


def assert_copy(dest: Path, expected: dict[str, Expected], *, times: str = "ns", skip_times: tuple[str, ...] = ()):
    """``dest`` holds exactly ``expected``'s paths, each as expected; ``times``: "ns", "s" or "mtime"."""
    got = describe_copy(dest, expected)  # every lstat before any listing or hashing
    assert listed_paths(dest) == set(expected)
    for path, want in expected.items():
        have = got[path]
        assert (have.kind, have.mode, have.size_bytes, have.target, have.sha256) == \
               (want.kind, want.mode, want.size_bytes, want.target, want.sha256), path
        if path in skip_times:
            continue
        if times == "ns":
            assert (have.mtime_ns, have.atime_ns) == (want.mtime_ns, want.atime_ns), path
        elif times == "s":
            assert have.mtime_ns // NS == want.mtime_ns // NS, path
        else:
            assert have.mtime_ns == want.mtime_ns, path
    assert link_groups(got) == link_groups(expected)
    return got


def expected_report(expected: dict[str, Expected]) -> tuple[int, int, int, int, int]:
    """(files, directories, symlinks, hardlinks, content bytes) that unpacking ``expected`` must count."""
    first: dict[int, Expected] = {}
    names = {"file": 0, "directory": 0, "symlink": 0}
    for want in expected.values():
        names[want.kind] += 1
        if want.kind != "directory":
            first.setdefault(want.inode, want)
    files = sum(1 for want in first.values() if want.kind == "file")
    content = sum(want.size_bytes or 0 for want in first.values() if want.kind == "file")
    hardlinks = names["file"] + names["symlink"] - len(first)
    return files, names["directory"], names["symlink"], hardlinks, content


def counts(report: UnpackReport) -> tuple[int, int, int, int, int]:
    return report.files, report.directories, report.symlinks, report.hardlinks, report.content_bytes


def test_unpacks_ext4_exactly(ext4_image, in_image, tmp_path):
    dest = tmp_path / "out"
    report = unpack(open_fs(ext4_image), dest)
    got = assert_copy(dest, in_image)
    assert counts(report) == expected_report(in_image) and report.skipped == ()
    assert report.hardlinks == 4 and report.symlinks == 7
    assert {frozenset({"/usr/bin/tool", "/usr/bin/tool-hardlink"}),
            frozenset({"/etc/hostname", "/data/hostname-2", "/ro/hostname-3"}),
            frozenset({"/xonly/linked", "/zz_second_name"})} == link_groups(got)
    assert got["/usr/bin/setuid_tool"].mode == 0o4755 and got["/usr/bin/setgid_tool"].mode == 0o2755
    assert got["/sticky"].mode == 0o1777 and got["/ro"].mode == 0o555 and got["/locked"].mode == 0o500
    assert os.readlink(dest / "escape_link") == "../../../../../etc/passwd"  # as stored, never resolved
    assert os.readlink(dest / "abs_link") == "/etc/os-release"


def test_unpacks_xfs_exactly(xfs_image, portable_tree, tmp_path):
    """XFS: a prototype file has no hard links, no names with spaces and no sticky bit (so the tree has none)."""
    dest = tmp_path / "out"
    report = unpack(open_fs(xfs_image), dest)
    assert_copy(dest, portable_tree[1])
    assert counts(report) == expected_report(portable_tree[1]) and report.hardlinks == 0


def test_unpacks_a_directory_source(tree, tmp_path):
    """The same unpacker over ``DirectorySource`` (the tree's atimes have moved since: the images read it)."""
    dest = tmp_path / "out"
    report = unpack(DirectorySource(tree[0]), dest)
    assert_copy(dest, tree[1], times="mtime")
    assert counts(report) == expected_report(tree[1])


def test_holes_stay_holes(ext4_image, xfs_image, tmp_path):
    for index, image in enumerate((ext4_image, xfs_image)):
        dest = tmp_path / f"out{index}"
        unpack(open_fs(image), dest)
        info = os.stat(dest / "data" / "sparse.bin")
        assert info.st_size > 2 * SPARSE_HOLE_BYTES
        assert info.st_blocks * 512 <= info.st_size - SPARSE_HOLE_BYTES, image  # at least one 3 MiB hole kept


@pytest.mark.skipif(os.geteuid() != 0, reason="drops from root to nobody (run unprivileged, the other tests are this)")
def test_unpacks_as_an_unprivileged_user(ext4_image, in_image, tmp_path):
    """As nobody: read-only directories (0555, 0500), a hard link into one and one out of a 0100 directory
    already written, setuid and setgid bits, times."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(ext4_image, work / "root.ext4")
    os.chown(work, 65534, 65534)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: drop to nobody, unpack, report the hard links made (or the error) on the pipe
        try:
            os.close(read_end)
            os.chdir(work)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            message = str(unpack(open_fs(Path("root.ext4")), "out").hardlinks)
        except BaseException as exc:  # noqa: BLE001 - the parent reports it
            message = f"{type(exc).__name__}: {exc}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(child, 0)
    assert message == "4"
    got = assert_copy(work / "out", in_image)
    assert os.lstat(work / "out" / "ro" / "hostname-3").st_uid == 65534
    assert got["/ro"].mode == 0o555 and got["/xonly"].mode == XONLY_MODE and got["/usr/bin/setgid_tool"].mode == 0o2755


def test_refuses_a_destination_with_content(ext4_image, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "already").write_text("here\n")
    with pytest.raises(UsageError, match="is not empty"):
        unpack(open_fs(ext4_image), dest)
    assert os.listdir(dest) == ["already"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        unpack(open_fs(ext4_image), tmp_path / "file")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link_to_empty").symlink_to(tmp_path / "empty")
    with pytest.raises(UsageError, match="is not a directory"):
        unpack(open_fs(ext4_image), tmp_path / "link_to_empty")
    with pytest.raises(UsageError, match="cannot create"):
        unpack(open_fs(ext4_image), tmp_path / "missing" / "out")
    assert os.listdir(tmp_path / "empty") == []


def test_an_empty_destination_is_used(ext4_image, in_image, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    unpack(open_fs(ext4_image), dest)
    assert_copy(dest, in_image)  # the root's mode and times too


def special_image(tmp_path: Path, *, devices: bool) -> Path:
    root = tmp_path / "tree"
    write_special_tree(root, devices=devices)
    image = tmp_path / "special.ext4"
    subprocess.run([tool("mkfs.ext4"), "-q", "-d", str(root), "-F", str(image), "8M"], check=True, capture_output=True)
    return image


def test_skips_fifos_and_sockets(tmp_path):
    report = unpack(open_fs(special_image(tmp_path, devices=False)), tmp_path / "out")
    assert report.skipped == (("/fifo", "fifo"), ("/socket", "socket"))
    assert sorted(os.listdir(tmp_path / "out")) == ["etc", "lost+found"]
    assert (tmp_path / "out" / "etc" / "os-release").read_text() == "ID=debian\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_skips_device_nodes_and_reports_them(tmp_path):
    """mkfs.ext4 -d copies the device nodes; unpack makes none of them, and lists each."""
    report = unpack(open_fs(special_image(tmp_path, devices=True)), tmp_path / "out")
    assert report.skipped == (("/dev/bigminor", "char device"), ("/dev/loop200", "block device"),
                              ("/dev/null", "char device"), ("/fifo", "fifo"), ("/socket", "socket"))
    assert os.listdir(tmp_path / "out" / "dev") == []


def _inode_location(image: Path, path: str) -> int:
    """The byte offset of ``path``'s inode, from debugfs ``imap``."""
    out = subprocess.run([tool("debugfs"), "-R", f"imap {path}", str(image)], capture_output=True, check=True,
                         text=True).stdout
    block, offset = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", out).groups()
    block_bytes = int(re.search(r"Block size:\s+(\d+)", subprocess.run(
        [tool("dumpe2fs"), "-h", str(image)], capture_output=True, check=True, text=True).stdout).group(1))
    return int(block) * block_bytes + int(offset, 16)


@pytest.mark.parametrize("path", ["/usr/lib/deep", "/data/big.bin"], ids=["directory", "file"])
def test_corrupt_image_is_one_format_error(ext4_image, path, tmp_path):
    """A broken extent header, in a directory (met by the walk) or a file (met while its data is copied)."""
    image = tmp_path / "corrupt.ext4"
    image.write_bytes(ext4_image.read_bytes())
    with open(image, "r+b") as handle:
        os.pwrite(handle.fileno(), b"\xde\xad", _inode_location(image, path) + 40)  # i_block: the extent magic
    with pytest.raises(ImageFormatError, match="corrupt extent tree") as caught:
        unpack(open_fs(image), tmp_path / "out")
    assert "\n" not in str(caught.value)


class HostileTree:
    """A ``TreeSource`` that yields what no walk of a real filesystem may: paths that would leave ``dest``."""

    def __init__(self, entries: list[TreeEntry]) -> None:
        self.entries = entries

    def walk_tree(self) -> Iterator[TreeEntry]:
        return iter(self.entries)

    def iter_content(self, entry: TreeEntry, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
        yield b"x" * entry.size_bytes


def _entry(path: str, mode: int, target: str | None = None, size: int = 0) -> TreeEntry:
    return TreeEntry(path, mode, size, NS, NS, abs(hash(path)) + 10, 1, target)


@pytest.mark.parametrize("case", ["through_symlink", "dotdot", "dotdot_deeper", "before_parent"])
def test_never_writes_outside_dest(case, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = _entry("/", stat.S_IFDIR | 0o755)
    file_mode = stat.S_IFREG | 0o644
    entries = {
        "through_symlink": [root, _entry("/link", stat.S_IFLNK | 0o777, str(outside)),
                            _entry("/link/pwned", file_mode, size=1)],
        "dotdot": [root, _entry("/..", stat.S_IFDIR | 0o755), _entry("/../pwned", file_mode, size=1)],
        "dotdot_deeper": [root, _entry("/d", stat.S_IFDIR | 0o755), _entry("/d/../../outside/pwned", file_mode)],
        "before_parent": [root, _entry("/outside/pwned", file_mode)],
    }[case]
    dest = tmp_path / "dest"
    with pytest.raises(ImageFormatError, match="does not follow its parent directory"):
        unpack(HostileTree(entries), dest)
    assert os.listdir(outside) == []
    assert not os.path.lexists(tmp_path / "pwned")


def test_progress_is_periodic(ext4_image, tree, tmp_path):
    calls: list[tuple[int, int]] = []
    report = unpack(open_fs(ext4_image), tmp_path / "out", progress=lambda done, total: calls.append((done, total)),
                    total_bytes=123_456_789)
    assert calls[-1] == (report.content_bytes, 123_456_789)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) <= report.content_bytes // PROGRESS_STEP_BYTES + 2 < report.files  # not per file
    calls.clear()
    unpack(open_fs(ext4_image), tmp_path / "out2", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (report.content_bytes, 0)


def test_partitioned_vhd_end_to_end(tree, tmp_path):
    """``build_image`` (GPT, ext4 by mkfs.ext4 -d, fixed VHD), ``open_image(...).root``, unpack: mkfs.ext4
    -d keeps whole seconds, not the root's times (nor those of lost+found, which mkfs makes), and drops the
    epoch bits of a time after 2038 (e2fsprogs 1.47.0 stores /usr/bin/setgid_tool's 2039 as 1903)."""
    vhd = build_image(tree[0], tmp_path / "disk.vhd", table="gpt", label="root")
    with open_image(vhd) as opened:
        assert opened.root_location == "partition 1"
        report = unpack(opened.root, tmp_path / "out")
    assert_copy(tmp_path / "out", tree[1], times="s", skip_times=("/", "/lost+found", "/usr/bin/setgid_tool"))
    assert counts(report) == expected_report(tree[1])
