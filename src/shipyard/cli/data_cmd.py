"""``shipyard data files ...``: the files of tasks and nodes, in Batch Shipyard's forms.

``list`` lists every task's files; ``stream --filespec JOB,TASK,FILE`` prints a task's file as it
grows, until the task completes; ``task --filespec JOB,TASK,FILE`` and ``node --nodeid NODE
--filespec FILE`` (or ``--filespec NODE,FILE``) download one file into the current directory, or
with ``--all`` every file that matches the pattern given in place of FILE. ``pools.file_ops`` does
the work.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.pool_session import JOB_FILES, POOL_FILES, backend_for, load_files, pool_id_of


@click.group("data")
@global_options
def data_group() -> None:
    """Task and node files: list, stream, download."""


@data_group.group("files")
@global_options
def files_group() -> None:
    """Task and node files: list, stream, task, node."""


@files_group.command("list")
@click.option("--jobid", metavar="ID", help="Only this job (default: the jobs of jobs.yaml).")
@click.option("--taskid", metavar="ID", help="Only this task.")
@global_options
@pass_settings
def list_files(settings: Settings, jobid: str | None, taskid: str | None) -> int:
    """List the files of each task that has run: path in its directory, size."""
    from shipyard.pools.file_ops import task_lister, walk
    from shipyard.pools.job_ops import selected_job_ids

    config = load_files(settings, POOL_FILES if jobid else JOB_FILES)
    rows: list[dict[str, Any]] = []
    with backend_for(config) as backend:
        for job_id in selected_job_ids(backend, config, job_id=jobid):
            tasks = [task for task in backend.list_tasks(job_id) if taskid in (None, task.id)]
            if taskid is not None and not tasks:
                backend.get_task(job_id, taskid)  # NotFoundError: the task is not in the job
            for task in tasks:
                if task.node_id is None:
                    continue  # it has not run: it has no files yet
                for entry in walk(task_lister(backend, job_id, task.id)):
                    rows.append({"job": job_id, "task": task.id, "file": entry.name, "bytes": entry.size_bytes})
    if settings.raw:
        render.emit_json(rows)
    elif rows:
        render.table(None, ("job", "task", "file", "bytes"), [tuple(row.values()) for row in rows])
    else:
        render.line("no task files")
    return 0


def _task_spec(backend: Any, filespec: str) -> tuple[str, str, str]:
    from shipyard.pools.file_ops import parse_filespec
    from shipyard.pools.job_ops import FIRST_RUNNING, first_running_task

    job_id, task_id, path = parse_filespec(filespec, ("JOB", "TASK", "FILE"))
    if task_id == FIRST_RUNNING:
        task_id = first_running_task(backend, job_id)
    return job_id, task_id, path


@files_group.command("stream")
@click.option("--filespec", required=True, metavar="JOB,TASK,FILE",
              help="The task's file (TASK may be @FIRSTRUNNING).")
@click.option("--disk", is_flag=True, help="Write it to FILE's base name here instead of printing it.")
@global_options
@pass_settings
def stream(settings: Settings, filespec: str, disk: bool) -> int:
    """Print a task's file (UTF-8) as it is written, until the task completes."""
    from shipyard.pools.job_ops import follow_task_file

    config = load_files(settings, POOL_FILES)
    with backend_for(config) as backend:
        job_id, task_id, path = _task_spec(backend, filespec)
        if disk or settings.raw:
            data = b"".join(follow_task_file(backend, job_id, task_id, path))
            if settings.raw and not disk:
                render.emit_json({"job": job_id, "task": task_id, "file": path, "bytes": len(data),
                                  "text": data.decode("utf-8", errors="replace")})
                return 0
            return _written(settings, [(path, _write_one(settings, Path(Path(path).name), data), len(data))])
        for chunk in follow_task_file(backend, job_id, task_id, path):
            sys.stdout.write(chunk.decode("utf-8", errors="replace"))
            sys.stdout.flush()
    return 0


def _write_one(settings: Settings, target: Path, data: bytes) -> Path:
    _confirm_overwrite(settings, [target])
    target.write_bytes(data)
    return target


def _confirm_overwrite(settings: Settings, targets: list[Path]) -> None:
    from shipyard.cli.prompt import confirm
    from shipyard.errors import ShipyardError

    existing = [str(target) for target in targets if target.exists()]
    if existing and not confirm(settings, f"overwrite {', '.join(existing[:3])}"
                                          f"{' …' if len(existing) > 3 else ''}?"):
        raise ShipyardError("nothing downloaded: not confirmed")


def _written(settings: Settings, written: list[tuple[str, Path, int]]) -> int:
    if settings.raw:
        render.emit_json([{"file": remote, "path": str(local), "bytes": size} for remote, local, size in written])
    else:
        for remote, local, size in written:
            render.line(f"{remote} -> {local} ({size:,} bytes)")
    return 0


def _download(settings: Settings, downloads: list[Any], read: Any) -> int:
    from shipyard.pools.file_ops import fetch

    _confirm_overwrite(settings, [item.local for item in downloads])
    return _written(settings, [(item.remote, item.local, size) for item, size in fetch(downloads, read)])


@files_group.command("task")
@click.option("--filespec", required=True, metavar="JOB,TASK,FILE",
              help="The task's file (TASK may be @FIRSTRUNNING); with --all, a pattern in place of FILE.")
@click.option("--all", "all_files", is_flag=True, help="Every file of the task that matches the pattern.")
@global_options
@pass_settings
def task_file(settings: Settings, filespec: str, all_files: bool) -> int:
    """Download a task's file to its base name here (with --all: to JOB/TASK/... here)."""
    from shipyard.pools.file_ops import plan_downloads, task_lister

    config = load_files(settings, POOL_FILES)
    with backend_for(config) as backend:
        job_id, task_id, path = _task_spec(backend, filespec)
        downloads = plan_downloads(task_lister(backend, job_id, task_id), path, all_files=all_files,
                                   dest=Path("."), subdir=(job_id, task_id), what=f"task {task_id}")
        return _download(settings, downloads, lambda name: backend.read_task_file(job_id, task_id, name))


@files_group.command("node")
@click.option("--poolid", metavar="ID", help="The pool (default: pool.yaml's).")
@click.option("--nodeid", metavar="ID", help="The node (else the filespec names it: NODE,FILE).")
@click.option("--filespec", required=True, metavar="[NODE,]FILE",
              help="The file, relative to the node's root (startup/stderr.txt); with --all, a pattern.")
@click.option("--all", "all_files", is_flag=True, help="Every file of the node that matches the pattern.")
@global_options
@pass_settings
def node_file(settings: Settings, poolid: str | None, nodeid: str | None, filespec: str, all_files: bool) -> int:
    """Download a node's file to its base name here (with --all: to POOL/NODE/... here)."""
    from shipyard.pools.file_ops import node_filespec, node_lister, plan_downloads

    config = load_files(settings, POOL_FILES)
    pool_id = pool_id_of(config, poolid)
    node_id, path = node_filespec(nodeid, filespec)
    with backend_for(config) as backend:
        downloads = plan_downloads(node_lister(backend, pool_id, node_id), path, all_files=all_files,
                                   dest=Path("."), subdir=(pool_id, node_id), what=f"node {node_id}")
        return _download(settings, downloads, lambda name: backend.read_node_file(pool_id, node_id, name))
