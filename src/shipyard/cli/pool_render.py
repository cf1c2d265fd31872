"""How the `pool`, `jobs` and `data` commands show pools, nodes, jobs and tasks: JSON for ``--raw``
(the models as plain values), tables for people, and the live displays of node and task states.

A live display is a rich ``Live`` table when stdout is a terminal, and plain lines (one each time
the counts change) when it is not; with ``--raw`` there is none (the JSON comes at the end).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from shipyard.cli import render
from shipyard.redact import redact, strip_query

if TYPE_CHECKING:
    from shipyard.pools.models import Job, Node, Pool, Task
    from shipyard.pools.pool_ops import PoolView
    from shipyard.pools.vhd_plan import VhdPlan
    from shipyard.results import CheckResult

_COUNTS = ("node_counts", "task_counts")
_URIS = ("image_uri", "image_uris")


def plain(value: Any) -> Any:
    """A model as JSON values: enums by value, times in ISO 8601 (UTC), state counts as objects,
    image URIs without a query string, and no secret in any text (a SAS in a command line)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            field_value = getattr(value, item.name)
            if item.name in _COUNTS:
                out[item.name] = {plain(state): count for state, count in field_value}
            elif item.name in _URIS and field_value is not None:
                out[item.name] = (strip_query(field_value) if isinstance(field_value, str)
                                  else [strip_query(uri) for uri in field_value])
            else:
                out[item.name] = plain(field_value)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, str):
        return redact(value)
    return value


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def counts_text(counts: Iterable[tuple[Any, int]]) -> str:
    return ", ".join(f"{count} {getattr(state, 'value', state)}" for state, count in counts if count) or "none"


def image_text(pool: Pool) -> str:
    if pool.image.image_uris:
        uris = [strip_query(uri) for uri in pool.image.image_uris]
        return f"{len(uris)} VHD{'s' if len(uris) > 1 else ''}: {', '.join(uris)}"
    return f"gallery image {pool.image.arm_image_id}" if pool.image.arm_image_id else "none"


# --- pools and nodes ------------------------------------------------------------------------------


RUNTIME_TEXT = {"image": "its tasks run inside the image's own root", "host": "its tasks run on this machine"}


def pools_table(pools: Sequence[Pool]) -> None:
    if not pools:
        render.line("no pools")
        return
    rows = [(p.id, p.state.value, p.allocation_state.value, f"{p.current_dedicated}/{p.target_dedicated}",
             f"{p.current_low_priority}/{p.target_low_priority}", counts_text(p.node_counts), p.node_runtime or "",
             image_text(p))
            for p in pools]
    render.table(None, ("pool", "state", "allocation", "dedicated", "low priority", "nodes", "runtime", "image"),
                 rows)


def start_task_text(node: Node) -> str:
    info = node.start_task
    if info is None:
        return ""
    if info.state != "completed":
        return info.state
    if info.result is not None and info.result.value == "success":
        return f"ok (exit {info.exit_code})"
    rules = ", ".join(rule.id for rule in info.failed_rules)
    return f"failed (exit {info.exit_code})" + (f": {rules}" if rules else "")


def nodes_table(nodes: Sequence[Node]) -> None:
    if not nodes:
        render.line("no nodes")
        return
    rows = [(n.id, n.state.value, "dedicated" if n.is_dedicated else "low priority",
             strip_query(n.image_uri) if n.image_uri else "", n.running_tasks, start_task_text(n)) for n in nodes]
    render.table(None, ("node", "state", "priority", "vhd", "tasks", "start task"), rows)


def failed_nodes_detail(nodes: Sequence[Node]) -> None:
    """For each node whose start task failed: why, and each rule it failed with its fix."""
    for node in nodes:
        info = node.start_task
        failure = info.failure if info else None
        reason = f": {redact(failure.message)}" if failure else ""
        render.line(f"{node.id}: {node.state.value}{reason}")
        for rule in info.failed_rules if info else ():
            render.line(f"  {rule.id}: {rule.message}")
            if rule.fix:
                render.line(f"    fix: {rule.fix}")


def check_summary(subject: str, results: Sequence[CheckResult], *, detail: str = "") -> None:
    """One line for the rules on ``subject`` (a pool that passes them), then each warning and its fix."""
    from shipyard.results import Severity, Status, failed

    counts = {status: sum(r.status is status for r in results) for status in Status}
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    verdict = "FAILED" if failed(list(results), Severity.ERROR) else "OK"
    render.line(f"{subject}: {verdict} ({summary})" + (f"; {detail}" if detail else ""))
    for result in results:
        if result.status in (Status.WARN, Status.UNKNOWN):
            render.line(f"  {result.status.value} {result.id}: {result.message}"
                        + (f"; fix: {result.fix}" if result.fix else ""))


def view_line(view: PoolView) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in view.counts().items()) or "no nodes yet"
    return (f"pool {view.pool.id}: {len(view.nodes)} of {view.target} nodes: {counts} "
            f"({view.pool.allocation_state.value})")


def _node_rows(nodes: Iterable[Node]) -> list[tuple[str, ...]]:
    return [(n.id, n.state.value, strip_query(n.image_uri) if n.image_uri else "", start_task_text(n)) for n in nodes]


@contextmanager
def live_display(enabled: bool, table: Callable[[Any], tuple[Sequence[str], list[tuple[str, ...]]]],
                 line: Callable[[Any], str]) -> Iterator[Callable[[Any], None]]:
    """Yields ``update(snapshot)``: a live table on a terminal, a line per change elsewhere, nothing
    when not ``enabled`` (``--raw``)."""
    if not enabled:
        yield lambda snapshot: None
        return
    if not sys.stdout.isatty():
        last: list[str] = []

        def print_line(snapshot: Any) -> None:
            text = line(snapshot)
            if not last or text != last[-1]:
                last.append(text)
                render.line(text)

        yield print_line
        return
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    def renderable(snapshot: Any) -> Table:
        columns, rows = table(snapshot)
        out = Table(box=None, pad_edge=False, caption=Text(line(snapshot)), caption_justify="left")
        for column in columns:
            out.add_column(column, overflow="fold")
        for row in rows:
            out.add_row(*(Text(cell) for cell in row))
        return out

    with Live(console=render.console(), auto_refresh=False, transient=False) as live:
        yield lambda snapshot: live.update(renderable(snapshot), refresh=True)


@contextmanager
def node_display(enabled: bool) -> Iterator[Callable[[PoolView], None]]:
    """The nodes of a pool while it comes up, as Batch Shipyard shows them."""
    columns = ("node", "state", "vhd", "start task")
    with live_display(enabled, lambda view: (columns, _node_rows(view.nodes)), view_line) as update:
        yield update


def plan_text(plan: VhdPlan) -> list[str]:
    """The boot plan: the VHD count against the 40/20 rule, and which nodes boot from which VHD."""
    lines = [f"nodes: {plan.node_count} ({plan.dedicated} dedicated, {plan.low_priority} low priority), "
             f"{plan.node_agent}",
             f"VHDs: {len(plan.image_uris)} given, {plan.required} required ({plan.nodes_per_vhd} nodes per VHD)"]
    if plan.shortfall:
        lines.append(f"shortfall: {plan.shortfall}")
    by_vhd: dict[str, list[int]] = {}
    for node in plan.nodes:
        if node.image_uri is not None:
            by_vhd.setdefault(node.image_uri, []).append(node.index)
    for uri, (dedicated, low) in plan.counts().items():
        indexes = by_vhd.get(uri, [])
        lines.append(f"  {strip_query(uri)}: {dedicated} dedicated + {low} low priority, nodes {_indexes(indexes)}")
    if plan.unplaced:
        lines.append(f"  no VHD for {plan.unplaced} nodes")
    return lines


def _indexes(indexes: list[int]) -> str:
    if not indexes:
        return "none"
    if len(indexes) <= 4:
        return ", ".join(map(str, indexes))
    return f"{indexes[0]}, {indexes[1]}, {indexes[2]}, …, {indexes[-1]}"


# --- jobs and tasks -------------------------------------------------------------------------------


def jobs_table(jobs: Sequence[Job]) -> None:
    if not jobs:
        render.line("no jobs")
        return
    rows = [(j.id, j.pool_id, j.state.value, j.priority, counts_text(j.task_counts), when(j.created)) for j in jobs]
    render.table(None, ("job", "pool", "state", "priority", "tasks", "created (UTC)"), rows)


def task_note(task: Task) -> str:
    if task.blocked_by:
        return f"blocked: depends on failed task {', '.join(task.blocked_by)}"
    if task.failure is not None:
        return f"{task.failure.code}: {redact(task.failure.message)}"
    return ""


def _duration(task: Task) -> str:
    if task.start_time and task.end_time:
        return f"{(task.end_time - task.start_time).total_seconds():.1f}s"
    return ""


def tasks_table(tasks: Sequence[Task]) -> None:
    if not tasks:
        render.line("no tasks")
        return
    rows = [(t.job_id, t.id, t.state.value, "" if t.exit_code is None else t.exit_code, t.node_id or "",
             t.retry_count, when(t.start_time), when(t.end_time), _duration(t), task_note(t)) for t in tasks]
    render.table(None, ("job", "task", "state", "exit", "node", "retries", "start (UTC)", "end (UTC)", "took",
                        "note"), rows)


def task_counts_of(tasks: Sequence[Task]) -> dict[str, int]:
    counts = {"active": 0, "running": 0, "completed": 0, "failed": 0, "blocked": 0}
    for task in tasks:
        if task.blocked_by:
            counts["blocked"] += 1
        elif task.state.value == "completed" and task.result is not None and task.result.value == "failure":
            counts["failed"] += 1
        elif task.state.value in counts:
            counts[task.state.value] += 1
        else:  # preparing
            counts["running"] += 1
    return counts


def _tasks_line(by_job: dict[str, list[Task]]) -> str:
    parts = []
    for job_id, tasks in by_job.items():
        counts = ", ".join(f"{n} {state}" for state, n in task_counts_of(tasks).items() if n) or "no tasks"
        parts.append(f"job {job_id}: {counts}")
    return "; ".join(parts)


def _tasks_rows(by_job: dict[str, list[Task]]) -> tuple[Sequence[str], list[tuple[str, ...]]]:
    columns = ("job", "active", "running", "completed", "failed", "blocked")
    rows = [(job_id, *(str(n) for n in task_counts_of(tasks).values())) for job_id, tasks in by_job.items()]
    return columns, rows


@contextmanager
def task_display(enabled: bool) -> Iterator[Callable[[dict[str, list[Task]]], None]]:
    """Each job's task counts while they run."""
    with live_display(enabled, _tasks_rows, _tasks_line) as update:
        yield update
