"""``shipyard pool ...``: add, list, resize and delete pools on the backend; node agent SKUs.

The library does the work (``pools.admission`` checks a pool before it is allocated,
``pools.pool_ops`` waits for it and resizes it, the backend runs it); this module parses, calls and
renders (``cli.pool_render``). `pool nodes` is in ``cli.pool_nodes_cmd``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from shipyard.cli import pool_render, render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.pool_session import POOL_FILES, backend_for, load_files, pool_id_of
from shipyard.config.kinds import ConfigKind
from shipyard.errors import ExitStatus, ShipyardError, UsageError

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet
    from shipyard.pools.admission import AdmissionReport
    from shipyard.pools.models import Pool
    from shipyard.pools.protocol import PoolBackend


@click.group("pool")
@global_options
def pool_group() -> None:
    """Pools: add (checked first), list, resize, delete; their nodes; node agent SKUs."""


@pool_group.command("listskus")
@global_options
@pass_settings
def listskus(settings: Settings) -> int:
    """List node agent SKU ids and the images verified for each."""
    from shipyard.cli import skus

    return skus.list_skus(settings)


# --- pools on a backend ---------------------------------------------------------------------------


@pool_group.command("add")
@click.option("--force", is_flag=True, help="Allocate even when an error-level rule fails (and say so).")
@click.option("--dry-run", is_flag=True, help="Print the plan and the check results; allocate nothing.")
@click.option("--no-wait", is_flag=True, help="Return once the pool is added, without waiting for its nodes.")
@click.option("--skip-check", "skip_checks", metavar="ID", multiple=True,
              help="Report this image rule as skipped (repeatable).")
@click.option("--publish", is_flag=True,
              help="On Azure, publish the pool's VHD image_uris to a Compute Gallery first (image publish "
                   "--update-pool), then add the pool from it.")
@global_options
@pass_settings
def add(settings: Settings, force: bool, dry_run: bool, no_wait: bool, skip_checks: tuple[str, ...],
        publish: bool) -> int:
    """Add the pool of pool.yaml, once its config and every VHD of its image pass the rules.

    Runs every config rule, then every image rule on each distinct VHD of image_uris, read in
    place where it was uploaded (nothing is downloaded but the bytes the readers touch), and plans
    which node boots from which VHD (round robin, at most 40 Linux or 20 Windows nodes a VHD). An
    error-level failure refuses the pool (exit 1, nothing created) unless --force. Then it waits
    until the pool is steady, showing the nodes' states (--no-wait returns at once). On the local
    backend the pool runs under a daemon, its supervisor, until `shipyard pool del`.
    """
    from shipyard.cli.checks import validate_skips
    from shipyard.pools.admission import admit_pool
    from shipyard.pools.pool_ops import refuse_existing

    validate_skips(skip_checks)
    config = load_files(settings, POOL_FILES, ConfigKind.POOL)
    if _needs_gallery(config):
        if not publish or dry_run:
            raise UsageError(
                f"pool {config.pool.id if config.pool else ''} lists VHD image_uris: Azure Batch takes a custom image "
                "only as a Compute Gallery image (page-blob image_uris left the Batch API in 2017)",
                hint="publish it first (shipyard image publish --update-pool), or pass --publish to do it now")
        config = _publish_first(settings, config, skip_checks)
    if dry_run:
        report = admit_pool(config, skip=skip_checks)
        return _show_admission(settings, report, dry_run=True)
    with backend_for(config) as backend:
        assert config.pool is not None
        refuse_existing(backend, config.pool.id)
        report = admit_pool(config, skip=skip_checks)
        if report.failed() and not force:
            return _show_admission(settings, report, dry_run=False)
        if not settings.raw:
            _render_admission(report, full=report.failed())
            if report.failed():
                render.line(f"--force: allocating pool {report.pool.id} although error-level rules failed "
                            "(its nodes are likely to fail their start task)", style="bold yellow")
        from shipyard.cli.progress import progress_bars

        with progress_bars(enabled=not settings.raw) as update:  # the image's root, unpacked once
            pool = backend.add_pool(report.pool, progress=update)
        data = {"admission": report.as_dict(), "dry_run": False, "forced": report.failed(), "allocated": True}
        return _after_allocation(settings, backend, config, pool, data, wait=not no_wait)


def _needs_gallery(config: ConfigSet) -> bool:
    from shipyard.config.backend import batch_backend

    image = config.pool.vm_configuration.custom_image if config.pool else None
    return bool(batch_backend(config).is_azure and image is not None and image.image_uris and not image.arm_image_id)


def _publish_first(settings: Settings, config: ConfigSet, skip_checks: tuple[str, ...]) -> ConfigSet:
    """`image publish --update-pool` with its defaults, then the config files again (pool.yaml now
    names the gallery image). Asks before the pool file is rewritten; only -y answers."""
    from shipyard.cli.image_publish_cmd import publish_plan
    from shipyard.cli.prompt import can_prompt
    from shipyard.gallery.publish import PublishOptions, plan_publish

    pool_path = config.files[ConfigKind.POOL].document.path
    if not settings.yes and not can_prompt():
        raise UsageError(f"--publish rewrites {pool_path}: pass -y to confirm (there is no terminal to ask on)")
    plan = plan_publish(config, PublishOptions(skip_checks=skip_checks))
    data = publish_plan(settings, config, plan, update_pool=True, ask=not settings.yes)
    if data is None:
        raise ShipyardError("nothing published: the pool was not added")
    if not settings.raw:
        render.line(f"{data['outcome']}: {data['arm_image_id']}; {pool_path} updated")
    return load_files(settings, POOL_FILES, ConfigKind.POOL)


def _show_admission(settings: Settings, report: AdmissionReport, *, dry_run: bool) -> int:
    """The plan and the checks; the pool is not allocated (a dry run, or a refusal)."""
    if settings.raw:
        problem = _runtime_problem(report) if dry_run else None
        render.emit_json({"admission": report.as_dict(), "dry_run": dry_run, "forced": False, "allocated": False,
                          "pool": None, "node_runtime_problem": problem})
        return int(ExitStatus.FAILED if report.failed() or problem else ExitStatus.OK)
    _render_admission(report, full=True)
    if dry_run:
        problem = _runtime_problem(report)
        if problem is not None:
            render.line(f"node runtime image: {problem}", style="bold red")
        render.line(f"dry run: pool {report.pool.id} not allocated")
        return int(ExitStatus.FAILED if report.failed() or problem else ExitStatus.OK)
    failing = _failing_ids(report)
    raise ShipyardError(f"pool {report.pool.id} refused: {', '.join(failing)} failed; nothing was allocated",
                        hint="fix the image or the config (each fix is above), or pass --force to allocate anyway")


def _runtime_problem(report: AdmissionReport) -> str | None:
    """Why this machine cannot run the pool's ``image`` node runtime (the local backend's), if so."""
    if report.backend != "local" or report.pool.node_runtime != "image":
        return None
    from shipyard.pools.local.sandbox import runtime_problem

    return runtime_problem()


def _failing_ids(report: AdmissionReport) -> list[str]:
    from shipyard.results import Severity, failed

    ids = [r.id for r in report.config_results if failed([r], Severity.ERROR)]
    for vhd in report.vhds:
        ids.extend(r.id for r in vhd.results if failed([r], Severity.ERROR))
        if vhd.error is not None:
            ids.append(f"reading {vhd.uri}")
    return list(dict.fromkeys(ids))


def _render_admission(report: AdmissionReport, *, full: bool) -> None:
    """The plan, then the checks: each as `image check`'s table for a dry run or a refusal, one line
    each (and the warnings) for a pool that passes."""
    from shipyard.cli.checks import render_results
    from shipyard.cli.image_source import read_line

    pool = report.pool
    render.line(f"pool {pool.id}: {pool.vm_size}, {report.backend} backend", style="bold")
    for text in pool_render.plan_text(report.plan):
        render.line(text)
    if full:
        render.line()
        render_results("config", "config", list(report.config_results), "error", False)
    else:
        pool_render.check_summary("config", report.config_results)
    for vhd in report.vhds:
        if full:
            render.line()
        if vhd.error is not None:
            render.line(f"{vhd.uri}: cannot be read: {vhd.error}", style="bold red")
            continue
        read = f"read {read_line(vhd.as_dict()['blob'])}"
        if full:
            render.line(f"{read}:")
            render_results("image", vhd.uri, list(vhd.results), "error", False)
        else:
            pool_render.check_summary(vhd.uri, vhd.results, detail=read)
    if full:
        render.line()


def _after_allocation(settings: Settings, backend: PoolBackend, config: ConfigSet, pool: Pool,
                      data: dict[str, Any], *, wait: bool) -> int:
    """The supervisor, then (unless ``wait`` is off) the nodes until the pool is steady."""
    from shipyard.pools.pool_ops import supervisor_pid

    pid = supervisor_pid(backend, pool.id)
    data.update(pool=pool_render.plain(pool), supervisor_pid=pid)
    if not settings.raw:
        render.line(f"pool {pool.id} added: {pool.target_dedicated} dedicated and {pool.target_low_priority} "
                    f"low-priority nodes, {pool_render.image_text(pool)}")
        if pool.node_runtime is not None:
            render.line(f"node runtime: {pool.node_runtime} "
                        f"({pool_render.RUNTIME_TEXT.get(pool.node_runtime, pool.node_runtime)})")
        if pid is not None:
            render.line(f"supervisor: pid {pid}, a daemon that keeps the pool's nodes running; "
                        "`shipyard pool del` stops it and every node")
    if not wait:
        data.update(nodes=None, steady=False)
        if settings.raw:
            render.emit_json(data)
        else:
            render.line("not waiting for the nodes: watch them with `shipyard pool nodes list`")
        return 0
    return _wait_steady(settings, backend, config, pool.id, data)


def _wait_steady(settings: Settings, backend: PoolBackend, config: ConfigSet, pool_id: str,
                 data: dict[str, Any]) -> int:
    from shipyard.pools.pool_ops import resize_timeout_s, watch_pool

    view = None
    with pool_render.node_display(not settings.raw) as update:
        for view in watch_pool(backend, pool_id, timeout_s=resize_timeout_s(config)):
            update(view)
    assert view is not None
    data.update(pool=pool_render.plain(view.pool), nodes=pool_render.plain(view.nodes), steady=True)
    if settings.raw:
        render.emit_json(data)
        return int(ExitStatus.FAILED if view.failed else ExitStatus.OK)
    if view.failed:
        pool_render.failed_nodes_detail(view.failed)
        raise ShipyardError(
            f"pool {pool_id}: {len(view.failed)} of {len(view.nodes)} nodes are {', '.join(sorted({n.state.value for n in view.failed}))}",
            hint="see `shipyard pool nodes list --start-task-failed` and `shipyard data files node`; "
                 "`shipyard pool del` removes the pool")
    render.line(f"pool {pool_id} is steady: {pool_render.counts_text(view.counts().items())}")
    return 0


@pool_group.command("list")
@global_options
@pass_settings
def list_pools(settings: Settings) -> int:
    """List the pools: state, node counts by state, image source."""
    config = load_files(settings, POOL_FILES)
    with backend_for(config) as backend:
        pools = backend.list_pools()
    if settings.raw:
        render.emit_json([pool_render.plain(pool) for pool in pools])
    else:
        pool_render.pools_table(pools)
    return 0


@pool_group.command("del")
@click.option("--poolid", metavar="ID", help="Delete this pool instead of pool.yaml's.")
@global_options
@pass_settings
def delete(settings: Settings, poolid: str | None) -> int:
    """Delete the pool: stop its supervisor, every node and every task, and remove its state.

    Asks first; -y answers yes, and without a terminal to ask on -y is required. The pool's jobs
    stay (as on Batch); their running tasks go back to active.
    """
    from shipyard.cli.prompt import confirm
    from shipyard.pools.pool_ops import supervisor_pid

    config = load_files(settings, POOL_FILES)
    pool_id = pool_id_of(config, poolid)
    with backend_for(config) as backend:
        nodes = backend.list_nodes(pool_id)  # NotFoundError for a pool that is not there
        if not confirm(settings, f"delete pool {pool_id} and stop its {len(nodes)} nodes?"):
            render.line("nothing deleted", stderr=True)
            return 1
        pid = supervisor_pid(backend, pool_id)
        backend.delete_pool(pool_id)
    if settings.raw:
        render.emit_json({"pool": pool_id, "deleted": True, "nodes": len(nodes), "supervisor_pid": pid})
    else:
        daemon = f"its supervisor (pid {pid}) and " if pid is not None else ""
        render.line(f"pool {pool_id} deleted: {daemon}{len(nodes)} nodes stopped")
    return 0


@pool_group.command("resize")
@click.option("--task-action", type=click.Choice(["requeue", "terminate", "taskcompletion"]), default="requeue",
              show_default=True, help="What happens to the running tasks of nodes that leave.")
@click.option("--wait", is_flag=True, help="Wait until the pool is steady, showing its nodes.")
@global_options
@pass_settings
def resize(settings: Settings, task_action: str, wait: bool) -> int:
    """Resize the pool to pool.yaml's vm_count.

    Growing re-checks the VHD count first: at most 40 Linux or 20 Windows nodes per VHD of the
    pool's image_uris (`shipyard image replicate` makes more copies).
    """
    from shipyard.pools.models import TaskAction
    from shipyard.pools.pool_ops import resize_pool

    config = load_files(settings, POOL_FILES, ConfigKind.POOL)
    with backend_for(config) as backend:
        before, after, plan = resize_pool(backend, config, task_action=TaskAction(task_action))
        data: dict[str, Any] = {"pool": pool_render.plain(after), "plan": plan.as_dict(), "task_action": task_action}
        if not settings.raw:
            render.line(f"pool {after.id}: resizing from {before.target_dedicated} dedicated + "
                        f"{before.target_low_priority} low priority to {after.target_dedicated} + "
                        f"{after.target_low_priority} (task action {task_action})")
        if not wait:
            if settings.raw:
                render.emit_json({**data, "nodes": None, "steady": False})
            return 0
        return _wait_steady(settings, backend, config, after.id, data)


from shipyard.cli.pool_nodes_cmd import nodes_group  # noqa: E402 - the `pool nodes` group joins here

pool_group.add_command(nodes_group)

from shipyard.cli.pool_ssh_cmd import ssh  # noqa: E402 - `pool ssh` too

pool_group.add_command(ssh)
