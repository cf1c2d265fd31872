"""A whole tree, walked: every entry of a source with its inode's metadata, and file data in chunks.

``walk(source)`` yields one :class:`TreeEntry` per entry, depth first, a directory before its
children and the children in name order, the root ``/`` first; symlinks are never followed.
``iter_content(source, entry, chunk_bytes)`` streams a regular file's data, so a large file is
never held whole. The sources that can be walked (``ExtSource``, ``XfsSource``,
``DirectorySource``) implement :class:`TreeSource`; they share :func:`walk_depth_first`, which
refuses what no real filesystem holds (a name with ``/``, a duplicate name, a directory reached
twice) with one ``ImageFormatError`` line, so a consumer never meets a path that leaves the tree.
"""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from shipyard.errors import ImageFormatError

DEFAULT_CHUNK_BYTES = 1 << 20

Node = TypeVar("Node")


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a tree, as its inode describes it (owners are not kept)."""

    path: str  # absolute inside the source: "/", "/usr/bin/x"
    mode: int  # st_mode, type bits included
    size_bytes: int
    mtime_ns: int  # nanoseconds since the Unix epoch (negative before 1970)
    atime_ns: int
    inode: int  # unique within the source: entries with one inode are hard links of one file
    nlink: int
    target: str | None = None  # a symlink's target, as stored; None for anything else
    rdev: int | None = None  # a device node's number (os.makedev); None for anything else

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def kind(self) -> str:
        """What the entry is, in words: "file", "directory", "symlink", "char device", ..."""
        return kind_name(self.mode)


_KINDS = (
    (stat_mod.S_ISREG, "file"), (stat_mod.S_ISDIR, "directory"), (stat_mod.S_ISLNK, "symlink"),
    (stat_mod.S_ISCHR, "char device"), (stat_mod.S_ISBLK, "block device"), (stat_mod.S_ISFIFO, "fifo"),
    (stat_mod.S_ISSOCK, "socket"),
)


def kind_name(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return f"unknown type {stat_mod.S_IFMT(mode):o}"


@runtime_checkable
class TreeSource(Protocol):
    """A source whose whole tree can be walked and whose files can be streamed."""

    def walk_tree(self) -> Iterator[TreeEntry]: ...

    def iter_content(self, entry: TreeEntry, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]: ...


def _tree_source(source: Any) -> TreeSource:
    # getattr, not isinstance: a runtime Protocol check costs ~10 us, once per file in iter_content
    if not (callable(getattr(source, "walk_tree", None)) and callable(getattr(source, "iter_content", None))):
        raise TypeError(f"{source!r} cannot be walked as a tree")
    return cast(TreeSource, source)


def walk(source: Any) -> Iterator[TreeEntry]:
    """Every entry of ``source``: ``/`` first, then depth first, parents before children, by name."""
    return _tree_source(source).walk_tree()


def iter_content(source: Any, entry: TreeEntry, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
    """The data of the regular file ``entry`` (from ``walk(source)``), in chunks of at most ``chunk_bytes``.

    Holes read as zeros. The chunks add up to ``entry.size_bytes``.
    """
    if not stat_mod.S_ISREG(entry.mode):
        raise ValueError(f"{entry.path} is a {entry.kind}, not a regular file")
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    return _tree_source(source).iter_content(entry, chunk_bytes)


def is_safe_name(name: str) -> bool:
    """A name one directory entry can have: never empty, ``.``, ``..``, nor with ``/`` or NUL."""
    return name not in ("", ".", "..") and "/" not in name and "\0" not in name


def walk_depth_first(
    root: Node,
    make_entry: Callable[[str, Node], TreeEntry],
    list_children: Callable[[Node, TreeEntry], Iterable[tuple[str, Node]]],
    what: str,
) -> Iterator[TreeEntry]:
    """The one walk behind every ``TreeSource``: ``make_entry(path, node)`` describes a node,
    ``list_children(node, entry)`` lists a directory's (name, node) pairs, ``.`` and ``..`` left out.

    ``what`` names the source in errors ("ext filesystem"). Names are checked before any path is
    built from them; a directory whose inode was already walked (a loop) is refused.
    """
    top = make_entry("/", root)
    if not stat_mod.S_ISDIR(top.mode):
        raise ImageFormatError(f"{what}: the root is a {top.kind}, not a directory", field="tree")
    yield top
    seen = {top.inode}
    stack: list[tuple[str, Iterator[tuple[str, Node]]]] = [("", _sorted_children(list_children(root, top), "/", what))]
    while stack:
        prefix, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        name, node = child
        entry = make_entry(f"{prefix}/{name}", node)
        if stat_mod.S_ISDIR(entry.mode):
            if entry.inode in seen:
                raise ImageFormatError(f"{what}: directory {entry.path} (inode {entry.inode}) is reached twice",
                                       field="tree")
            seen.add(entry.inode)
            yield entry
            stack.append((entry.path, _sorted_children(list_children(node, entry), entry.path, what)))
        else:
            yield entry


def _sorted_children(children: Iterable[tuple[str, Node]], directory: str, what: str) -> Iterator[tuple[str, Node]]:
    ordered = sorted(children, key=lambda child: child[0])
    previous = None
    for name, _node in ordered:
        if not is_safe_name(name):
            raise ImageFormatError(f"{what}: directory {directory} holds an entry named {name!r}", field="tree")
        if name == previous:
            raise ImageFormatError(f"{what}: directory {directory} holds {name!r} twice", field="tree")
        previous = name
    return iter(ordered)
