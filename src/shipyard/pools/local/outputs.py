"""A task's ``output_files``, uploaded by its node once the task's process has exited.

What is uploaded, as Azure Batch does it (``OutputFile``, ``OutputFileBlobContainerDestination``):

- **Which files.** ``file_pattern`` is relative to the task directory (``wd/...`` is the
  working directory: ``pools.task_specs.task_relative``), its components split on ``/``. ``*``,
  ``?`` and ``[...]`` match within one name, ``**`` matches any number of directories (none
  included); a name starting with ``.`` is matched only by a component that starts with ``.``
  too (Batch ignores dot files by default), and ``**`` never goes through a dot directory.
  Only files are uploaded; links to directories are not followed.
- **Which blob names.** A pattern with wildcards uploads each file as ``prefix`` + its path
  relative to the pattern's *base*, the leading components that have no wildcard:
  ``wd/results/**/*.txt`` puts ``wd/results/a/b.txt`` at ``<prefix>a/b.txt``. A pattern without
  one names a single file: Batch then names the blob ``path`` itself, but ``prefix`` is always a
  virtual directory here (``OutputFile.prefix`` ends in ``/`` or is empty, Batch Shipyard's
  ``remote_path``), so the file goes into it under its own name, and with no prefix at the
  container's root under its own name (Batch's rule when ``path`` is omitted). A pattern that
  matches nothing uploads nothing, and is no error.
- **When.** ``upload_condition``: ``tasksuccess`` after a try that succeeded, ``taskfailure``
  after one that failed (a non-zero exit, a wall-time kill), ``taskcompletion`` after either;
  after each try that ran, so a retry uploads again (blobs are overwritten). A task that never
  started (a launch failure) or that the supervisor stopped (terminated, or requeued with its
  node) uploads nothing.
- **Where.** ``container`` (created when missing) of the storage link ``storage_link`` of the
  pool's credentials. The local backend writes only to the local store: a link that is not
  ``endpoint: local``, or one the credentials do not have, fails the task before it starts, in
  one line (``link_problem``), as an Azure File volume on such a link fails the start task.

An upload that fails fails the task with ``FileUploadError`` (its own exit code kept; a try that
had failed anyway keeps its failure, the upload's added to the message), and the node goes on.
What was uploaded is listed in the task directory's ``fileuploadout.txt``, a failure in
``fileuploaderr.txt``, as on a Batch node (both written after the files are matched).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.redact import redact

UPLOAD_FAILED = "FileUploadError"
LOGS = ("fileuploadout.txt", "fileuploaderr.txt")
_WILDCARDS = frozenset("*?[")


@dataclass
class UploadResult:
    uploaded: list[str] = field(default_factory=list)  # the blobs' URIs
    failure: str | None = None  # one line
    cancelled: bool = False


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a file pattern of the task directory (None: it can)."""
    path = PurePosixPath(pattern)
    if not pattern or path.is_absolute() or ".." in path.parts or "\0" in pattern:
        return f"file pattern '{pattern}' must be relative to the task directory, without '..'"
    return None


def link_problem(outputs: list[dict[str, Any]], links: dict[str, Any]) -> str | None:
    """Why these output files cannot be uploaded from this node (None: they can)."""
    for item in outputs:
        name = item["storage_link"]
        link = links.get(name)
        if link is None:
            known = ", ".join(sorted(links)) or "none"
            return f"output_files name storage link '{name}', which the pool's credentials do not have ({known})"
        if not link.is_local or link.blob_endpoint:
            return (f"output_files go to storage link '{name}', which is not the local store: the local backend "
                    "uploads task output only to links with endpoint: local")
    return None


def applies(condition: str, succeeded: bool) -> bool:
    return condition == "taskcompletion" or (condition == "tasksuccess") == succeeded


def _has_wildcard(component: str) -> bool:
    return not _WILDCARDS.isdisjoint(component)


def _name_matches(name: str, pattern: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _parts_match(parts: list[str], patterns: list[str]) -> bool:
    if not patterns:
        return not parts
    head = patterns[0]
    if head == "**":
        if len(patterns) == 1:  # a trailing **: everything below
            return bool(parts) and not any(p.startswith(".") for p in parts)
        for skip in range(len(parts)):  # ** takes `skip` directories, the rest must match what follows
            if skip and parts[skip - 1].startswith("."):
                return False
            if _parts_match(parts[skip:], patterns[1:]):
                return True
        return False
    return bool(parts) and _name_matches(parts[0], head) and _parts_match(parts[1:], patterns[1:])


def matches(directory: Path, pattern: str) -> list[tuple[Path, str]]:
    """The files of ``directory`` that ``pattern`` matches, each with its blob name (before the prefix)."""
    components = [c for c in pattern.split("/") if c and c != "."]
    split = next((i for i, c in enumerate(components) if _has_wildcard(c)), None)
    if split is None:  # one file, named
        path = directory.joinpath(*components)
        return [(path, path.name)] if components and path.is_file() else []
    base, rest = directory.joinpath(*components[:split]), components[split:]
    found = []
    for dirpath, dirnames, filenames in os.walk(base):  # links to directories are not followed
        dirnames.sort()
        relative = PurePosixPath(Path(dirpath).relative_to(base).as_posix())
        for filename in sorted(filenames):
            parts = [*relative.parts, filename]
            path = Path(dirpath, filename)
            if _parts_match(parts, rest) and path.is_file():
                found.append((path, "/".join(parts)))
    return found


def upload(directory: Path, outputs: list[dict[str, Any]], succeeded: bool, links: dict[str, Any], home: Path,
           cancel: threading.Event) -> UploadResult:
    """Upload the output files whose condition this try meets; stops between files once ``cancel`` is set."""
    from shipyard.storage.open import open_store

    for name in LOGS:
        with contextlib.suppress(OSError):
            (directory / name).unlink()
    result = UploadResult()
    chosen = [item for item in outputs if applies(item.get("upload_condition") or "taskcompletion", succeeded)]
    stores: dict[str, Any] = {}
    containers: set[tuple[str, str]] = set()
    current = ""
    try:
        problem = link_problem(chosen, links)
        if problem is not None:
            raise ShipyardError(problem)
        for item in chosen:
            link, container = item["storage_link"], item["container"]
            store = stores.get(link) or stores.setdefault(link, open_store(links[link], home))
            for path, name in matches(directory, item["file_pattern"]):
                if cancel.is_set():
                    result.cancelled = True
                    return result
                if (link, container) not in containers:
                    store.ensure_container(container)
                    containers.add((link, container))
                blob = (item.get("prefix") or "") + name
                current = f" ({path.relative_to(directory)})"
                store.put_blob(container, blob, path)
                result.uploaded.append(store.blob_uri(container, blob))
    except ShipyardError as exc:
        result.failure = redact(f"uploading output file{current}: {exc}").replace("\n", " ")
    except OSError as exc:
        result.failure = f"uploading output file{current}: {exc.strerror or exc}"
    _write_logs(directory, result)
    return result


def _write_logs(directory: Path, result: UploadResult) -> None:
    with contextlib.suppress(OSError):
        (directory / LOGS[0]).write_text("".join(f"uploaded {uri}\n" for uri in result.uploaded))
        if result.failure:
            (directory / LOGS[1]).write_text(result.failure + "\n")


def merged(task_failure: dict[str, str] | None, upload_failure: str) -> dict[str, str]:
    """The try's failure once its upload failed: the upload's, or the task's own with the upload's added."""
    if task_failure is None:
        return {"category": "usererror", "code": UPLOAD_FAILED, "message": upload_failure}
    return {**task_failure, "message": f"{task_failure['message']}; and {upload_failure}"}
