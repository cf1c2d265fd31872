"""Files on a node: listed and read relative to the node's root (or a task's directory).

A path is relative and stays inside: an absolute path, a ``..`` component, or a link that leads
out of the node (other than into the local store, where the node's shared volumes live) is not
there (``NotFoundError``), exactly like a file that does not exist.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from shipyard.errors import BackendError, NotFoundError
from shipyard.pools.models import NodeFile


def resolve(root: Path, path: str, what: str, *, also_inside: tuple[Path, ...] = ()) -> Path:
    relative = PurePosixPath(path or ".")
    if relative.is_absolute() or ".." in relative.parts:
        raise NotFoundError(f"{path} is not a path inside the {what}: give it relative to the {what}, without '..'")
    target = root.joinpath(*relative.parts)
    real = Path(os.path.realpath(target))
    bases = [Path(os.path.realpath(root)), *(Path(os.path.realpath(p)) for p in also_inside)]
    if not any(real == base or real.is_relative_to(base) for base in bases):
        raise NotFoundError(f"{path} leads out of the {what}")
    return target


def list_files(root: Path, path: str, what: str, *, also_inside: tuple[Path, ...] = ()) -> list[NodeFile]:
    """The entries of directory ``path`` (or the one file ``path``), named relative to ``root``."""
    target = resolve(root, path, what, also_inside=also_inside)
    try:
        info = target.stat()
    except OSError:
        raise NotFoundError(f"{path or '.'} does not exist in the {what}") from None
    base = PurePosixPath(path or ".")
    if not stat.S_ISDIR(info.st_mode):
        return [NodeFile(str(base), False, info.st_size)]
    entries = []
    try:
        names = sorted(os.listdir(target))
    except OSError as exc:
        raise BackendError(f"cannot list {path or '.'} in the {what}: {exc.strerror or exc}") from None
    for name in names:
        try:
            child = (target / name).stat()
        except OSError:  # a dangling link, or a file removed meanwhile
            continue
        is_dir = stat.S_ISDIR(child.st_mode)
        entries.append(NodeFile(str(base / name) if path else name, is_dir, None if is_dir else child.st_size))
    return entries


def read_file(root: Path, path: str, what: str, *, also_inside: tuple[Path, ...] = ()) -> bytes:
    target = resolve(root, path, what, also_inside=also_inside)
    try:
        if target.is_dir():
            raise BackendError(f"{path} is a directory in the {what}: list it instead")
        return target.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist in the {what}") from None
    except OSError as exc:
        raise BackendError(f"cannot read {path} in the {what}: {exc.strerror or exc}") from None
