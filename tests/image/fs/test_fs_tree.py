"""``walk`` and ``iter_content`` over ext4, XFS and a directory, checked against the tree the images
were made from (``fixtures/unpack_trees.py``: every time to the nanosecond, written into the images
with debugfs and xfs_db's offsets), against ``DirectorySource`` over that tree, and against xfs_db."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from fixtures.unpack_trees import (
    open_fs, BIG_FILE_BYTES, NS, POST_2038_NS, PRE_1970_NS, Expected, make_ext4_image, tool, write_special_tree,
    xfs_db_times,
)
from ext2py import Inode

from shipyard.errors import ImageFormatError
from shipyard.image.fs.xfs import decode_time_ns
from shipyard.sources.directory import DirectorySource
from shipyard.sources.tree import TreeEntry, iter_content, walk


@pytest.fixture(scope="module")
def ext4_image(tree, tmp_path_factory) -> Path:
    return make_ext4_image(tree[0], tmp_path_factory.mktemp("ext4") / "root.ext4", tree[1])


def entries_of(source) -> dict[str, TreeEntry]:
    walked = list(walk(source))
    by_path = {entry.path: entry for entry in walked}
    assert len(by_path) == len(walked), "a path came twice"
    return by_path


def assert_walk_order(walked: list[TreeEntry]) -> None:
    """``/`` first; each entry after its parent directory, depth first; siblings by name."""
    assert walked[0].path == "/" and stat.S_ISDIR(walked[0].mode)
    open_dirs = ["/"]
    last_child: dict[str, str] = {}
    for entry in walked[1:]:
        parent = entry.path.rpartition("/")[0] or "/"
        assert parent in open_dirs, f"{entry.path} before (or long after) its parent"
        del open_dirs[open_dirs.index(parent) + 1:]  # depth first: the parent's subtrees before it are done
        assert last_child.get(parent, "") < entry.name, f"{entry.path} out of name order"
        last_child[parent] = entry.name
        if stat.S_ISDIR(entry.mode):
            open_dirs.append(entry.path)


def assert_matches_tree(walked: dict[str, TreeEntry], expected: dict[str, Expected]) -> None:
    assert set(walked) == set(expected)
    for path, want in expected.items():
        entry = walked[path]
        assert entry.kind == want.kind, path
        assert stat.S_IMODE(entry.mode) == want.mode, path
        assert entry.target == want.target, path
        if want.kind == "file":
            assert entry.size_bytes == want.size_bytes, path
        assert (entry.mtime_ns, entry.atime_ns) == (want.mtime_ns, want.atime_ns), path
        assert entry.rdev is None
    names_of: dict[int, set[str]] = {}
    for path, want in expected.items():
        if want.kind != "directory":
            names_of.setdefault(want.inode, set()).add(path)
    for names in names_of.values():  # the names of one source inode share one image inode, and nlink counts them
        assert {walked[name].inode for name in names} == {walked[min(names)].inode}
        assert {walked[name].nlink for name in names} == {len(names)}
    assert len({walked[path].inode for path in walked}) == len({want.inode for want in expected.values()})


def test_ext4_walk_is_the_tree(ext4_image, tree):
    walked = list(walk(open_fs(ext4_image)))
    assert_walk_order(walked)
    by_path = {entry.path: entry for entry in walked}
    assert_matches_tree(by_path, tree[1])
    assert by_path["/usr/bin/tool-hardlink"].nlink == 2 and by_path["/etc/hostname"].nlink == 3
    assert by_path["/data/ünïcødé_✓.txt"].size_bytes == len("ünïcødé\n".encode())
    assert os.fsencode(next(p for p in by_path if p.startswith("/data/bytes-"))) == b"/data/bytes-\xff\xfe.bin"


def test_ext4_times_beyond_32_bits(ext4_image, tree):
    times = {entry.mtime_ns for entry in walk(open_fs(ext4_image))}
    assert PRE_1970_NS in times  # signed seconds, with nanoseconds
    assert POST_2038_NS in times  # the extra word's epoch bits


def test_xfs_walk_is_the_tree(xfs_image, portable_tree):
    source = open_fs(xfs_image)
    walked = list(walk(source))
    assert_walk_order(walked)
    assert_matches_tree({entry.path: entry for entry in walked}, portable_tree[1])
    assert PRE_1970_NS in {entry.mtime_ns for entry in walked}  # classic: corrected by decode_time_ns


def test_xfs_times_are_nanoseconds_as_xfs_db_prints_them(xfs_image, portable_tree):
    """pyfsxfs' ``get_modification_time_as_integer`` is in nanoseconds, not the seconds its docstring says."""
    entry = entries_of(open_fs(xfs_image))["/usr/bin/tool"]
    seconds_text, nanoseconds_text = xfs_db_times(xfs_image, "/usr/bin/tool")
    assert entry.mtime_ns % NS == int(nanoseconds_text) != 0
    assert entry.mtime_ns == portable_tree[1]["/usr/bin/tool"].mtime_ns
    assert str(1970 + entry.mtime_ns // NS // 31_557_600) in seconds_text  # the year xfs_db prints


def test_decode_time_ns():
    assert decode_time_ns(1_600_000_001_123_456_789, bigtime=False) == 1_600_000_001_123_456_789
    assert decode_time_ns(-2_500_000_000, bigtime=False) == -1_500_000_000  # what pyfsxfs answers for -1.5 s
    assert decode_time_ns(-3 * NS, bigtime=False) == -3 * NS
    assert decode_time_ns(-2_500_000_000, bigtime=True) == -2_500_000_000


def test_directory_walk_matches_the_images(ext4_image, tree):
    from_directory = entries_of(DirectorySource(tree[0]))
    from_image = entries_of(open_fs(ext4_image))
    assert set(from_directory) == set(from_image)
    for path, entry in from_directory.items():
        other = from_image[path]
        assert (entry.mode, entry.target, entry.mtime_ns) == (other.mode, other.target, other.mtime_ns), path
        if not stat.S_ISDIR(entry.mode):
            assert (entry.size_bytes, entry.nlink) == (other.size_bytes, other.nlink), path
    assert_walk_order(list(walk(DirectorySource(tree[0]))))


def assert_streams_chunks(source, expected: dict[str, Expected]) -> None:
    checked = 0
    for entry in walk(source):
        if not stat.S_ISREG(entry.mode):
            continue
        chunk_bytes = 64 * 1024
        digest, sizes = hashlib.sha256(), []
        for chunk in iter_content(source, entry, chunk_bytes):
            digest.update(chunk)
            sizes.append(len(chunk))
        assert sum(sizes) == entry.size_bytes and max(sizes, default=0) <= chunk_bytes, entry.path
        assert digest.hexdigest() == expected[entry.path].sha256, entry.path
        if entry.path == "/data/big.bin":
            assert len(sizes) >= BIG_FILE_BYTES // chunk_bytes
        checked += 1
    assert checked == sum(1 for want in expected.values() if want.kind == "file") >= 17


def test_iter_content_streams_chunks_ext4(ext4_image, tree):
    assert_streams_chunks(open_fs(ext4_image), tree[1])


def test_iter_content_streams_chunks_xfs(xfs_image, portable_tree):
    assert_streams_chunks(open_fs(xfs_image), portable_tree[1])


def test_iter_content_streams_chunks_directory(tree):
    assert_streams_chunks(DirectorySource(tree[0]), tree[1])


def test_iter_content_refuses_what_is_not_a_file(ext4_image):
    source = open_fs(ext4_image)
    root = next(walk(source))
    with pytest.raises(ValueError, match="not a regular file"):
        iter_content(source, root)


def test_device_numbers(tmp_path):
    """Device nodes' numbers, old and new encodings (minor over 255), from a prototype file (no root needed)."""
    pytest.importorskip("pyfsxfs", reason="the optional extra shipyard[xfs] is not installed")
    proto = tmp_path / "special.proto"
    proto.write_text("/dev/null\n0 0\nd--755 0 0\nnull c--666 0 0 1 3\nloop b--660 0 0 7 200\n"
                     "big c--600 0 0 259 70000\nfifo p--644 0 0\n$\n")
    image = tmp_path / "special.xfs"
    with open(image, "wb") as handle:
        handle.truncate(300 << 20)
    subprocess.run([tool("mkfs.xfs"), "-q", "-p", str(proto), "-f", str(image)], check=True, capture_output=True)
    by_path = entries_of(open_fs(image))
    assert by_path["/null"].rdev == os.makedev(1, 3) and by_path["/null"].kind == "char device"
    assert by_path["/loop"].rdev == os.makedev(7, 200) and by_path["/loop"].kind == "block device"
    assert by_path["/big"].rdev == os.makedev(259, 70_000)
    assert by_path["/fifo"].kind == "fifo" and by_path["/fifo"].rdev is None


@pytest.mark.skipif(os.geteuid() != 0, reason="making device nodes needs root")
def test_ext4_device_numbers(tmp_path):
    root = tmp_path / "tree"
    rdevs = write_special_tree(root, devices=True)
    image = tmp_path / "special.ext4"
    subprocess.run([tool("mkfs.ext4"), "-q", "-d", str(root), "-F", str(image), "8M"], check=True, capture_output=True)
    by_path = entries_of(open_fs(image))
    assert {path: by_path[path].rdev for path in rdevs} == rdevs
    assert by_path["/fifo"].kind == "fifo" and by_path["/socket"].kind == "socket"


def _patch(image: Path, old: bytes, new: bytes) -> None:
    data = image.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    with open(image, "r+b") as handle:
        os.pwrite(handle.fileno(), new, data.index(old))


def test_walk_refuses_a_name_with_a_slash(tmp_path):
    root = tmp_path / "tree"
    (root / "d").mkdir(parents=True)
    (root / "d" / "escape_me_12345").write_text("x\n")
    image = tmp_path / "bad.ext4"
    subprocess.run([tool("mkfs.ext4"), "-q", "-d", str(root), "-F", str(image), "4M"], check=True, capture_output=True)
    _patch(image, b"escape_me_12345", b"../../etc/pwned")
    with pytest.raises(ImageFormatError, match=r"directory /d holds an entry named '\.\./\.\./etc/pwned'") as caught:
        list(walk(open_fs(image)))
    assert "\n" not in str(caught.value)


def test_xfs_name_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    pytest.importorskip("pyfsxfs", reason="the optional extra shipyard[xfs] is not installed")
    (tmp_path / "f").write_text("x\n")
    proto = tmp_path / "bad.proto"
    proto.write_bytes(b"/dev/null\n0 0\nd--755 0 0\nd d--755 0 0\nbad\xff ---644 0 0 " + bytes(tmp_path / "f")
                      + b"\n$\n$\n")
    image = tmp_path / "bad.xfs"
    with open(image, "wb") as handle:
        handle.truncate(300 << 20)
    subprocess.run([tool("mkfs.xfs"), "-q", "-p", str(proto), "-f", str(image)], check=True, capture_output=True)
    with pytest.raises(ImageFormatError, match=r"^xfs filesystem: /d holds a name that is not UTF-8 \(inode \d+\)$"):
        list(walk(open_fs(image)))


def test_walked_inodes_agree_with_ext2py(ext4_image):
    """``parse_walked`` (the walk's one-pass parse) against ext2py's ``Inode.parse`` on every inode walked."""
    source = open_fs(ext4_image)
    compared = 0
    for entry in walk(source):
        node = source._tree_inode(entry.inode, entry.path)
        full = Inode.parse(entry.inode, node.raw, source._fs.sb)
        assert (node.mode, node.size, node.links_count, node.flags, node.block) == \
               (full.mode, full.size, full.links_count, full.flags, full.block), entry.path
        assert abs(node.mtime_ns / NS - full.mtime) < 1e-6 and abs(node.atime_ns / NS - full.atime) < 1e-6
        compared += 1
    assert compared == len(set(entries_of(source)))
