"""``shipyard jobs ...``: add the jobs of jobs.yaml, list, terminate and delete them; their tasks.

``pools.specs.job_specs`` reads the file (task factories expanded, ids generated as Batch
Shipyard generates them, every problem found before anything is added); ``pools.job_ops`` adds the
jobs all or nothing, polls tasks and follows a task's file; this module parses and renders.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from shipyard.cli import pool_render, render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.pool_session import JOB_FILES, POOL_FILES, backend_for, load_files
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError


@click.group("jobs")
@global_options
def jobs_group() -> None:
    """Jobs and their tasks: add (from jobs.yaml), list, terminate, delete."""


def _jobid(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--jobid", metavar="ID", help="Only this job (default: the jobs of jobs.yaml).")(func)


@jobs_group.command("add")
@click.option("--tail", metavar="FILE", help="Then stream FILE (e.g. stdout.txt) of the last task added until it "
                                             "completes.")
@global_options
@pass_settings
def add(settings: Settings, tail: str | None) -> int:
    """Add every job of jobs.yaml, with its tasks, to the pool of pool.yaml: all of them or none.

    A bad jobs.yaml, an unknown pool, a job id already taken, a duplicate task id, a dependency on
    a task the job does not have and a dependency cycle are refused (exit 2) before anything is
    added.
    """
    from shipyard.pools.job_ops import add_jobs
    from shipyard.pools.select import backend_kind
    from shipyard.pools.specs import job_specs

    if tail is not None and settings.raw:
        raise UsageError("--tail streams a task's file as text: it cannot be combined with --raw")
    config = load_files(settings, JOB_FILES, ConfigKind.JOBS, ConfigKind.POOL)
    specs = job_specs(config, backend_kind=backend_kind(config))
    with backend_for(config) as backend:
        jobs = add_jobs(backend, specs)
        if settings.raw:
            render.emit_json({"jobs": [{**pool_render.plain(job), "tasks": [t.id for t in spec.tasks]}
                                       for job, spec in zip(jobs, specs, strict=True)]})
            return 0
        for spec in specs:
            ids = [task.id for task in spec.tasks]
            shown = ", ".join(ids) if len(ids) <= 8 else f"{', '.join(ids[:3])}, …, {ids[-1]}"
            render.line(f"job {spec.id} added to pool {spec.pool_id}: {len(ids)} task{'s' if len(ids) != 1 else ''}"
                        + (f" ({shown})" if ids else ""))
        last = next(((spec.id, spec.tasks[-1].id) for spec in reversed(specs) if spec.tasks), None)
        if tail is None or last is None:
            return 0
        render.line(f"{tail} of task {last[1]} of job {last[0]}:", style="bold")
        _stream(backend, last[0], last[1], tail)
    return 0


def _stream(backend: Any, job_id: str, task_id: str, path: str) -> None:
    from shipyard.pools.job_ops import follow_task_file

    for chunk in follow_task_file(backend, job_id, task_id, path):
        sys.stdout.write(chunk.decode("utf-8", errors="replace"))
        sys.stdout.flush()


@jobs_group.command("list")
@global_options
@pass_settings
def list_jobs(settings: Settings) -> int:
    """List every job: its pool, state, priority and task counts."""
    config = load_files(settings, POOL_FILES)
    with backend_for(config) as backend:
        jobs = backend.list_jobs()
    if settings.raw:
        render.emit_json([pool_render.plain(job) for job in jobs])
    else:
        pool_render.jobs_table(jobs)
    return 0


def _job_action(settings: Settings, job_id: str | None, all_jobs: bool, verb: str,
                act: Callable[[Any, str], None]) -> int:
    from shipyard.cli.prompt import confirm
    from shipyard.pools.job_ops import selected_job_ids

    config = load_files(settings, POOL_FILES if job_id or all_jobs else JOB_FILES)
    with backend_for(config) as backend:
        ids = selected_job_ids(backend, config, job_id=job_id, all_jobs=all_jobs)
        if ids and not confirm(settings, f"{verb} {len(ids)} job(s): {', '.join(ids)}?"):
            render.line("nothing done: not confirmed", stderr=True)
            return 1
        for one in ids:
            act(backend, one)
            if not settings.raw:
                render.line(f"job {one}: {verb}d")
    if settings.raw:
        render.emit_json({"jobs": ids, verb: True})
    elif not ids:
        render.line("no jobs")
    return 0


@jobs_group.command("term")
@_jobid
@click.option("--all-jobs", is_flag=True, help="Every job the backend has.")
@click.option("--wait", is_flag=True, help="Wait until each job has completed.")
@global_options
@pass_settings
def terminate(settings: Settings, jobid: str | None, all_jobs: bool, wait: bool) -> int:
    """Terminate jobs: their running tasks are ended and the rest never run. Asks first (-y)."""
    from shipyard.pools.job_ops import wait_for_job

    def act(backend: Any, job_id: str) -> None:
        backend.terminate_job(job_id)
        if wait:
            wait_for_job(backend, job_id)

    return _job_action(settings, jobid, all_jobs, "terminate", act)


@jobs_group.command("del")
@_jobid
@click.option("--all-jobs", is_flag=True, help="Every job the backend has.")
@global_options
@pass_settings
def delete(settings: Settings, jobid: str | None, all_jobs: bool) -> int:
    """Delete jobs and their tasks (running ones are ended first). Asks first (-y)."""
    def act(backend: Any, job_id: str) -> None:
        backend.delete_job(job_id)

    return _job_action(settings, jobid, all_jobs, "delete", act)


from shipyard.cli.tasks_cmd import tasks_group  # noqa: E402 - the `jobs tasks` group joins here

jobs_group.add_command(tasks_group)
