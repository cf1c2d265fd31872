"""Node and task files for the `data files` commands: Batch Shipyard's filespecs, recursive
listings, and downloads into a local directory.

Batch Shipyard's forms: ``JOB,TASK,FILE`` (a task's file, ``TASK`` may be ``@FIRSTRUNNING``),
``NODE,FILE`` (a node's; `--nodeid NODE` with a plain ``FILE`` says the same), and with ``--all``
an include pattern (fnmatch) in place of ``FILE``. One file downloads to its base name in the
directory given; ``--all`` downloads to ``JOB/TASK/<path>`` (or ``POOL/NODE/<path>``) under it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shipyard.errors import NotFoundError, UsageError
from shipyard.pools.models import NodeFile
from shipyard.pools.protocol import PoolBackend


def parse_filespec(text: str, names: tuple[str, ...], *, option: str = "--filespec") -> tuple[str, ...]:
    """``text`` split at its first ``len(names) - 1`` commas; every part must be there."""
    parts = tuple(part.strip() for part in text.split(",", len(names) - 1))
    if len(parts) != len(names) or not all(parts):
        raise UsageError(f"{option} {text!r}: expected {','.join(names)}")
    return parts


def node_filespec(node_id: str | None, filespec: str) -> tuple[str, str]:
    """``--nodeid NODE --filespec FILE``, or Batch Shipyard's ``--filespec NODE,FILE``."""
    if node_id is not None:
        (path,) = parse_filespec(filespec, ("FILE",))
        return node_id, path
    node, path = parse_filespec(filespec, ("NODE", "FILE"))
    return node, path


def walk(lister: Callable[[str], list[NodeFile]], path: str = "") -> list[NodeFile]:
    """Every file under ``path`` (directories descended into, not listed), in name order."""
    found: list[NodeFile] = []
    pending = [path]
    while pending:
        for entry in lister(pending.pop()):
            if entry.is_directory:
                pending.append(entry.name)
            else:
                found.append(entry)
    return sorted(found, key=lambda entry: entry.name)


@dataclass(frozen=True)
class Download:
    remote: str  # relative to the task's directory or the node's root
    local: Path


def plan_downloads(lister: Callable[[str], list[NodeFile]], spec: str, *, all_files: bool, dest: Path,
                   subdir: tuple[str, ...], what: str) -> list[Download]:
    """One file to its base name in ``dest``; with ``all_files``, every file matching the pattern
    ``spec`` to ``dest/<subdir>/<its path>``."""
    if not all_files:
        name = PurePosixPath(spec).name
        if not name or name in (".", ".."):
            raise UsageError(f"{spec!r} names no file")
        return [Download(spec, dest / name)]
    matched = [entry for entry in walk(lister) if fnmatch.fnmatch(entry.name, spec)]
    if not matched:
        raise NotFoundError(f"no file of the {what} matches {spec!r}")
    base = dest.joinpath(*subdir)
    return [Download(entry.name, base.joinpath(*PurePosixPath(entry.name).parts)) for entry in matched]


def fetch(downloads: list[Download], read: Callable[[str], bytes]) -> list[tuple[Download, int]]:
    """Write each download; (download, bytes written)."""
    written = []
    for item in downloads:
        data = read(item.remote)
        item.local.parent.mkdir(parents=True, exist_ok=True)
        item.local.write_bytes(data)
        written.append((item, len(data)))
    return written


def task_lister(backend: PoolBackend, job_id: str, task_id: str) -> Callable[[str], list[NodeFile]]:
    return lambda path: backend.list_task_files(job_id, task_id, path)


def node_lister(backend: PoolBackend, pool_id: str, node_id: str) -> Callable[[str], list[NodeFile]]:
    return lambda path: backend.list_node_files(pool_id, node_id, path)
