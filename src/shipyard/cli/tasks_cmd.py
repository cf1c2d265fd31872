"""``shipyard jobs tasks ...``: list the tasks of jobs (and poll until they complete), terminate them."""

from __future__ import annotations

import click

from shipyard.cli import pool_render, render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.pool_session import JOB_FILES, POOL_FILES, backend_for, load_files
from shipyard.errors import NotFoundError


@click.group("tasks")
@global_options
def tasks_group() -> None:
    """The tasks of jobs: list (and poll), terminate."""


@tasks_group.command("list")
@click.option("--jobid", metavar="ID", help="Only this job (default: the jobs of jobs.yaml).")
@click.option("--all", "all_jobs", is_flag=True, help="The tasks of every job the backend has.")
@click.option("--poll-until-tasks-complete", "poll", is_flag=True,
              help="Show the tasks' progress until every one has completed (or will never run).")
@global_options
@pass_settings
def list_tasks(settings: Settings, jobid: str | None, all_jobs: bool, poll: bool) -> int:
    """List tasks: state, exit code, node, retries and times; a blocked task says which failed
    dependency blocks it."""
    from shipyard.pools.job_ops import selected_job_ids, watch_tasks

    config = load_files(settings, POOL_FILES if jobid or all_jobs else JOB_FILES)
    with backend_for(config) as backend:
        ids = selected_job_ids(backend, config, job_id=jobid, all_jobs=all_jobs)
        if poll:
            by_job: dict[str, list] = {}
            with pool_render.task_display(not settings.raw) as update:
                for by_job in watch_tasks(backend, ids):
                    update(by_job)
            tasks = [task for job_id in ids for task in by_job.get(job_id, [])]
        else:
            tasks = [task for job_id in ids for task in backend.list_tasks(job_id)]
    if settings.raw:
        render.emit_json([pool_render.plain(task) for task in tasks])
        return 0
    pool_render.tasks_table(tasks)
    return 0


@tasks_group.command("term")
@click.option("--jobid", metavar="ID", help="Only this job (default: the jobs of jobs.yaml).")
@click.option("--taskid", metavar="ID", help="Only this task.")
@global_options
@pass_settings
def terminate_tasks(settings: Settings, jobid: str | None, taskid: str | None) -> int:
    """Terminate tasks (killing each running one's process group); each is completed when this
    returns. Asks first (-y)."""
    from shipyard.cli.prompt import confirm
    from shipyard.pools.job_ops import selected_job_ids
    from shipyard.pools.models import TaskState

    config = load_files(settings, POOL_FILES if jobid else JOB_FILES)
    with backend_for(config) as backend:
        ids = selected_job_ids(backend, config, job_id=jobid)
        chosen = [task for job_id in ids for task in backend.list_tasks(job_id) if taskid in (None, task.id)]
        if taskid is not None and not chosen:
            raise NotFoundError(f"task {taskid} is in none of the jobs {', '.join(ids) or '(none)'}")
        pending = [task for task in chosen if task.state != TaskState.COMPLETED]
        if pending and not confirm(settings, f"terminate {len(pending)} task(s) of job(s) {', '.join(ids)}?"):
            render.line("nothing terminated: not confirmed", stderr=True)
            return 1
        for task in pending:
            backend.terminate_task(task.job_id, task.id)
    done = [{"job": task.job_id, "task": task.id} for task in pending]
    if settings.raw:
        render.emit_json({"terminated": done})
    elif not pending:
        render.line("no task to terminate: every one has completed")
    else:
        for task in pending:
            render.line(f"task {task.id} of job {task.job_id}: terminated")
    return 0
