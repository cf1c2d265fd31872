"""``shipyard pool nodes ...``: list, delete and reboot a pool's compute nodes (Batch Shipyard's forms).

The nodes are named by ``--nodeid ID`` (repeatable) or by state (``--all-start-task-failed`` and
its kin: ``pools.pool_ops.NodeFilter``). Deleting or rebooting asks first; only ``-y`` answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from shipyard.cli import pool_render, render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.pool_session import POOL_FILES, backend_for, load_files, pool_id_of


@click.group("nodes")
@global_options
def nodes_group() -> None:
    """A pool's compute nodes: list, delete, reboot."""


def _poolid(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--poolid", metavar="ID", help="The pool (default: pool.yaml's).")(func)


def _nodeid(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--nodeid", "node_ids", metavar="ID", multiple=True,
                        help="The node (repeatable).")(func)


@nodes_group.command("list")
@_poolid
@click.option("--start-task-failed", is_flag=True, help="Only nodes whose start task failed.")
@click.option("--unusable", is_flag=True, help="Only unusable nodes.")
@global_options
@pass_settings
def list_nodes(settings: Settings, poolid: str | None, start_task_failed: bool, unusable: bool) -> int:
    """List the pool's nodes: state, VHD, running tasks and start task; for a node whose start task
    failed, the rules that failed and how to fix each."""
    from shipyard.pools.pool_ops import FAILED_STATES, NodeFilter

    config = load_files(settings, POOL_FILES)
    pool_id = pool_id_of(config, poolid)
    chosen = NodeFilter(start_task_failed=start_task_failed, unusable=unusable)
    with backend_for(config) as backend:
        nodes = chosen.select(backend.list_nodes(pool_id), pool_id)
        runtime = backend.get_pool(pool_id).node_runtime
    if settings.raw:
        render.emit_json({"pool": pool_id, "node_runtime": runtime, "nodes": pool_render.plain(nodes)})
        return 0
    if runtime is not None:
        render.line(f"pool {pool_id}: node runtime {runtime} ({pool_render.RUNTIME_TEXT.get(runtime, runtime)})")
    pool_render.nodes_table(nodes)
    failed = [node for node in nodes if node.state in FAILED_STATES and node.start_task is not None]
    if failed:
        render.line()
        pool_render.failed_nodes_detail(failed)
    return 0


def _act(settings: Settings, poolid: str | None, node_ids: tuple[str, ...], all_start_task_failed: bool,
         all_unusable: bool, all_starting: bool, verb: str, act: Callable[[Any, str, list[str]], None]) -> int:
    from shipyard.cli.prompt import confirm
    from shipyard.pools.pool_ops import NodeFilter

    chosen = NodeFilter(node_ids, all_start_task_failed, all_unusable, all_starting)
    chosen.require_one(f"pool nodes {verb}")
    config = load_files(settings, POOL_FILES)
    pool_id = pool_id_of(config, poolid)
    with backend_for(config) as backend:
        nodes = chosen.select(backend.list_nodes(pool_id), pool_id)
        ids = [node.id for node in nodes]
        if not ids:
            states = ", ".join(sorted(state.value for state in chosen.states))
            if settings.raw:
                render.emit_json({"pool": pool_id, "nodes": [], verb: False})
            else:
                render.line(f"pool {pool_id}: no node is {states}: nothing to {verb}")
            return 0
        if not confirm(settings, f"{verb} {len(ids)} node(s) of pool {pool_id} ({', '.join(ids)})?"):
            render.line(f"nothing to {verb}: not confirmed", stderr=True)
            return 1
        act(backend, pool_id, ids)
    if settings.raw:
        render.emit_json({"pool": pool_id, "nodes": ids, verb: True})
    else:
        past = {"delete": "leaving the pool", "reboot": "rebooting"}[verb]
        render.line(f"pool {pool_id}: {', '.join(ids)} {past} (watch with `shipyard pool nodes list`)")
    return 0


@nodes_group.command("del")
@_poolid
@_nodeid
@click.option("--all-start-task-failed", is_flag=True, help="Every node whose start task failed.")
@click.option("--all-starting", is_flag=True, help="Every node still starting.")
@click.option("--all-unusable", is_flag=True, help="Every unusable node.")
@click.option("--task-action", type=click.Choice(["requeue", "terminate", "taskcompletion"]), default="requeue",
              show_default=True, help="What happens to the tasks running on them.")
@global_options
@pass_settings
def delete_nodes(settings: Settings, poolid: str | None, node_ids: tuple[str, ...], all_start_task_failed: bool,
                 all_starting: bool, all_unusable: bool, task_action: str) -> int:
    """Delete nodes from the pool (its target shrinks with them)."""
    from shipyard.pools.models import TaskAction

    def act(backend: Any, pool_id: str, ids: list[str]) -> None:
        backend.delete_nodes(pool_id, ids, task_action=TaskAction(task_action))

    return _act(settings, poolid, node_ids, all_start_task_failed, all_unusable, all_starting, "delete", act)


@nodes_group.command("reboot")
@_poolid
@_nodeid
@click.option("--all-start-task-failed", is_flag=True, help="Every node whose start task failed.")
@global_options
@pass_settings
def reboot_nodes(settings: Settings, poolid: str | None, node_ids: tuple[str, ...],
                 all_start_task_failed: bool) -> int:
    """Reboot nodes: each runs its start task again (node prep, then additional_node_prep)."""
    def act(backend: Any, pool_id: str, ids: list[str]) -> None:
        backend.reboot_nodes(pool_id, ids)

    return _act(settings, poolid, node_ids, all_start_task_failed, False, False, "reboot", act)
