"""The contract every ``PoolBackend`` keeps for pools and nodes: add, get, list, resize, delete;
list, delete and reboot nodes; the error types."""

from __future__ import annotations

import pytest

from fixtures.pools import idle_nodes, settled_nodes, wait_until
from shipyard.errors import BackendError, ConflictError, NotFoundError
from shipyard.pools.models import AllocationState, NodeState, PoolState, TaskAction
from shipyard.pools.protocol import PoolBackend


def test_the_backend_is_a_pool_backend(harness) -> None:
    assert isinstance(harness.backend, PoolBackend)
    assert harness.backend.kind in ("local", "azure")


def test_a_pool_is_added_listed_read_and_deleted(harness) -> None:
    backend = harness.backend
    pool = backend.add_pool(harness.spec("pool-a", dedicated=2, slots=2))
    assert (pool.id, pool.state, pool.target_dedicated, pool.max_tasks_per_node) == ("pool-a", PoolState.ACTIVE, 2, 2)
    nodes = idle_nodes(backend, "pool-a", 2)
    assert {n.pool_id for n in nodes} == {"pool-a"} and all(n.is_dedicated for n in nodes)
    assert all(n.start_task is not None and n.start_task.exit_code == 0 for n in nodes)
    steady = wait_until(lambda: (p := backend.get_pool("pool-a")).allocation_state == AllocationState.STEADY and p,
                        "a steady pool")
    assert steady.current_dedicated == 2 and dict(steady.node_counts) == {NodeState.IDLE: 2}
    assert [p.id for p in backend.list_pools()] == ["pool-a"]
    backend.delete_pool("pool-a")
    assert backend.list_pools() == []
    with pytest.raises(NotFoundError):
        backend.get_pool("pool-a")


def test_pool_errors_are_typed(harness) -> None:
    backend = harness.backend
    backend.add_pool(harness.spec("pool-b", dedicated=0))
    with pytest.raises(ConflictError, match="pool-b"):
        backend.add_pool(harness.spec("pool-b", dedicated=0))
    for call in (lambda: backend.get_pool("nope"), lambda: backend.resize_pool("nope", 1, 0),
                 lambda: backend.delete_pool("nope"), lambda: backend.list_nodes("nope"),
                 lambda: backend.reboot_nodes("pool-b", ["no-such-node"]),
                 lambda: backend.delete_nodes("pool-b", ["no-such-node"])):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert isinstance(caught.value, BackendError) and "\n" not in str(caught.value)


def test_a_pool_grows_and_shrinks(harness) -> None:
    backend = harness.backend
    backend.add_pool(harness.spec("pool-c", dedicated=1))
    idle_nodes(backend, "pool-c", 1)
    pool = backend.resize_pool("pool-c", 2, 0)
    assert pool.target_dedicated == 2
    nodes = idle_nodes(backend, "pool-c", 2)
    backend.resize_pool("pool-c", 1, 0, task_action=TaskAction.REQUEUE)
    left = idle_nodes(backend, "pool-c", 1)
    assert left[0].id in {n.id for n in nodes}
    wait_until(lambda: backend.get_pool("pool-c").allocation_state == AllocationState.STEADY, "a steady pool")


def test_a_node_is_deleted_and_the_target_follows(harness) -> None:
    backend = harness.backend
    backend.add_pool(harness.spec("pool-d", dedicated=2))
    nodes = idle_nodes(backend, "pool-d", 2)
    backend.delete_nodes("pool-d", [nodes[0].id])
    left = idle_nodes(backend, "pool-d", 1)
    assert left[0].id == nodes[1].id
    assert backend.get_pool("pool-d").target_dedicated == 1


def test_a_rebooted_node_runs_its_start_task_again(harness) -> None:
    backend = harness.backend
    backend.add_pool(harness.spec("pool-e", dedicated=1))
    before = idle_nodes(backend, "pool-e", 1)[0]
    backend.reboot_nodes("pool-e", [before.id])

    def rebooted():
        node = settled_nodes(backend, "pool-e", 1)[0]
        started = node.start_task.start_time if node.start_task else None
        return node if started and before.start_task and started > before.start_task.start_time else None

    after = wait_until(rebooted, "the start task to run again")
    assert after.id == before.id and after.state == NodeState.IDLE and after.start_task.exit_code == 0
