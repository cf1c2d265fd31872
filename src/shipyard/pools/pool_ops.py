"""What the `pool` commands do around the backend's calls: one place, for any backend.

``refuse_existing`` (a pool id that is taken), ``watch_pool`` (snapshots of a pool's nodes until
it is steady, as Batch Shipyard waits in `pool add` and `pool resize --wait`), ``resize_pool``
(the targets of ``pool.yaml``'s ``vm_count``, the VHD count re-checked before the pool grows),
``select_nodes`` (``--nodeid`` or ``--all-start-task-failed`` and its kin) and the supervisor's
pid where the backend has one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import BackendError, ConfigError, ConflictError, NotFoundError, UsageError
from shipyard.pools.admission import check_resize
from shipyard.pools.durations import parse_duration
from shipyard.pools.models import AllocationState, Node, NodeState, Pool, TaskAction
from shipyard.pools.protocol import PoolBackend, SupervisedBackend
from shipyard.pools.vhd_plan import VhdPlan

# a node in one of these states is not coming up any more: what waiting for a pool waits for
SETTLED_STATES = frozenset({NodeState.IDLE, NodeState.RUNNING, NodeState.START_TASK_FAILED,
                            NodeState.UNUSABLE, NodeState.OFFLINE})
FAILED_STATES = frozenset({NodeState.START_TASK_FAILED, NodeState.UNUSABLE})
DEFAULT_RESIZE_TIMEOUT_S = 15 * 60.0  # Batch's resize_timeout when pool.yaml sets none
POLL_S = 0.25


@dataclass(frozen=True)
class PoolView:
    """One look at a pool and its nodes."""

    pool: Pool
    nodes: tuple[Node, ...]

    @property
    def target(self) -> int:
        return self.pool.target_dedicated + self.pool.target_low_priority

    @property
    def settled(self) -> bool:
        """Steady, every node there, and none still coming up (or leaving, or rebooting)."""
        return (self.pool.allocation_state == AllocationState.STEADY and len(self.nodes) == self.target
                and all(node.state in SETTLED_STATES for node in self.nodes))

    @property
    def failed(self) -> tuple[Node, ...]:
        """Nodes whose start task failed, or that are unusable."""
        return tuple(node for node in self.nodes if node.state in FAILED_STATES)

    def counts(self) -> dict[str, int]:
        """Nodes per state, in Batch's order of states."""
        found: dict[str, int] = {}
        for state in NodeState:
            count = sum(node.state == state for node in self.nodes)
            if count:
                found[state.value] = count
        return found


def refuse_existing(backend: PoolBackend, pool_id: str) -> None:
    """A ``ConflictError`` when the backend already has a pool ``pool_id``."""
    try:
        backend.get_pool(pool_id)
    except NotFoundError:
        return
    raise ConflictError(f"pool {pool_id} already exists",
                        hint="delete it first (`shipyard pool del`), or change its size (`shipyard pool resize`)")


def resize_timeout_s(config: ConfigSet) -> float:
    """How long to wait for a pool to be steady: ``pool_specification.resize_timeout`` (Batch's 15
    minutes when it is not set)."""
    pool = config.pool
    text = pool.resize_timeout if pool is not None else None
    if not text:
        return DEFAULT_RESIZE_TIMEOUT_S
    try:
        return parse_duration(text)
    except ValueError as exc:
        where = config.files[ConfigKind.POOL].location(("pool_specification", "resize_timeout"))
        raise ConfigError(str(exc), file=where.file, line=where.line, path=where.path) from None


def watch_pool(
    backend: PoolBackend, pool_id: str, *, timeout_s: float = DEFAULT_RESIZE_TIMEOUT_S, interval_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
) -> Iterator[PoolView]:
    """A ``PoolView`` per look, until one is settled (the last one yielded). A ``BackendError``
    after ``timeout_s`` of looking; the pool stays as it is."""
    deadline = clock() + timeout_s
    while True:
        view = PoolView(backend.get_pool(pool_id), tuple(backend.list_nodes(pool_id)))
        yield view
        if view.settled:
            return
        if clock() > deadline:
            counts = ", ".join(f"{n} {state}" for state, n in view.counts().items()) or "no nodes"
            raise BackendError(f"pool {pool_id} is not steady after {timeout_s:g}s ({counts}, target {view.target})",
                               hint="it keeps coming up: watch it with `shipyard pool nodes list`")
        sleep(interval_s)


def supervisor_pid(backend: PoolBackend, pool_id: str) -> int | None:
    """The pid of the daemon that runs the pool on this machine; None for a backend without one."""
    if isinstance(backend, SupervisedBackend):
        return backend.supervisor_pid(pool_id)
    return None


def vm_count(config: ConfigSet) -> tuple[int, int]:
    """``pool.yaml``'s ``vm_count``: dedicated and low-priority nodes."""
    config.require(ConfigKind.POOL)
    pool = config.pool
    assert pool is not None
    return pool.vm_count.dedicated, pool.vm_count.low_priority


def resize_pool(backend: PoolBackend, config: ConfigSet, *,
                task_action: TaskAction = TaskAction.REQUEUE) -> tuple[Pool, Pool, VhdPlan]:
    """Resize the pool to ``pool.yaml``'s ``vm_count``: (before, after, the boot plan). Growing past
    what its VHDs serve (40 Linux or 20 Windows nodes each) is a ``UsageError`` and nothing changes."""
    dedicated, low_priority = vm_count(config)
    assert config.pool is not None
    before = backend.get_pool(config.pool.id)
    plan = check_resize(before, dedicated, low_priority)
    after = backend.resize_pool(before.id, dedicated, low_priority, task_action=task_action)
    return before, after, plan


@dataclass(frozen=True)
class NodeFilter:
    """``--nodeid`` (repeatable) or a whole class of nodes, as Batch Shipyard's `pool nodes` options."""

    node_ids: tuple[str, ...] = ()
    start_task_failed: bool = False
    unusable: bool = False
    starting: bool = False

    @property
    def states(self) -> frozenset[NodeState]:
        chosen = set()
        if self.start_task_failed:
            chosen.add(NodeState.START_TASK_FAILED)
        if self.unusable:
            chosen.add(NodeState.UNUSABLE)
        if self.starting:
            chosen.add(NodeState.STARTING)
        return frozenset(chosen)

    def require_one(self, command: str) -> None:
        """Exactly one way of naming nodes (for a command that acts on them)."""
        if bool(self.node_ids) == bool(self.states):
            raise UsageError(f"{command}: give --nodeid ID or one of the --all-... options (not both)")

    def select(self, nodes: Iterable[Node], pool_id: str) -> list[Node]:
        listed = list(nodes)
        if self.node_ids:
            by_id = {node.id: node for node in listed}
            missing = [node_id for node_id in self.node_ids if node_id not in by_id]
            if missing:
                raise NotFoundError(f"node {', '.join(missing)} is not in pool {pool_id}",
                                    hint="list the pool's nodes with `shipyard pool nodes list`")
            return [by_id[node_id] for node_id in dict.fromkeys(self.node_ids)]
        if self.states:
            return [node for node in listed if node.state in self.states]
        return listed
