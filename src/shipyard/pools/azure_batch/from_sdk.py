"""The ``azure-batch`` SDK's response models as shipyard's, one to one (states are the same strings)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from shipyard.pools.models import (
    AllocationState,
    ErrorCategory,
    FailedRule,
    FailureInfo,
    ImageSource,
    Job,
    JobState,
    Node,
    NodeFile,
    NodeFillType,
    NodeState,
    Pool,
    PoolState,
    StartTaskInfo,
    Task,
    TaskResult,
    TaskState,
)


def value_of(enum_or_str: Any) -> str | None:
    """An SDK enum (or string) as its lower-case value; None for None."""
    if enum_or_str is None:
        return None
    return str(getattr(enum_or_str, "value", enum_or_str)).lower()


def _failure(info: Any) -> FailureInfo | None:
    if info is None:
        return None
    category = value_of(info.category) or ErrorCategory.USER_ERROR.value
    return FailureInfo(ErrorCategory(category), info.code or "", info.message or "")


def _result(value: Any) -> TaskResult | None:
    text = value_of(value)
    return TaskResult(text) if text else None


def image_source(vm: Any) -> ImageSource:
    if vm is None:
        return ImageSource(node_agent="")
    ref = vm.image_reference
    image_id = None
    if ref is not None:
        image_id = ref.virtual_machine_image_id or ref.shared_gallery_image_id or ref.community_gallery_image_id
        if image_id is None and ref.publisher:  # a platform image: publisher:offer:sku:version
            image_id = ":".join(str(x) for x in (ref.publisher, ref.offer, ref.sku, ref.version or "latest"))
    return ImageSource(node_agent=vm.node_agent_sku_id or "", arm_image_id=image_id)


def pool(sdk: Any, nodes: Iterable[Node] = ()) -> Pool:
    counts = Counter(node.state for node in nodes)
    policy = sdk.task_scheduling_policy
    return Pool(
        id=sdk.id,
        state=PoolState(value_of(sdk.state) or PoolState.ACTIVE.value),
        allocation_state=AllocationState(value_of(sdk.allocation_state) or AllocationState.STEADY.value),
        vm_size=sdk.vm_size or "",
        image=image_source(sdk.virtual_machine_configuration),
        target_dedicated=sdk.target_dedicated_nodes or 0,
        target_low_priority=sdk.target_low_priority_nodes or 0,
        current_dedicated=sdk.current_dedicated_nodes or 0,
        current_low_priority=sdk.current_low_priority_nodes or 0,
        max_tasks_per_node=sdk.task_slots_per_node or 1,
        node_fill_type=NodeFillType((value_of(policy.node_fill_type) if policy else None) or "spread"),
        node_counts=tuple(sorted(counts.items())),
        created=sdk.creation_time,
    )


def start_task_info(info: Any) -> StartTaskInfo | None:
    if info is None:
        return None
    return StartTaskInfo(
        state=value_of(info.state) or "running",
        exit_code=info.exit_code,
        result=_result(info.result),
        failure=_failure(info.failure_info),
        start_time=info.start_time,
        end_time=info.end_time,
    )


def node(sdk: Any, pool_id: str) -> Node:
    return Node(
        id=sdk.id,
        pool_id=pool_id,
        state=NodeState(value_of(sdk.state) or NodeState.UNKNOWN.value),
        is_dedicated=bool(sdk.is_dedicated),
        image_uri=None,  # every node of a gallery pool boots the same image version
        running_tasks=sdk.running_tasks_count or 0,
        start_task=start_task_info(sdk.start_task_info),
        state_changed=sdk.state_transition_time,
    )


def job(sdk: Any, counts: Any = None) -> Job:
    task_counts: tuple[tuple[TaskState, int], ...] = ()
    if counts is not None:
        found = {TaskState.ACTIVE: counts.active or 0, TaskState.RUNNING: counts.running or 0,
                 TaskState.COMPLETED: counts.completed or 0}
        task_counts = tuple((state, n) for state, n in found.items() if n)
    return Job(
        id=sdk.id,
        pool_id=sdk.pool_info.pool_id if sdk.pool_info else "",
        state=JobState(value_of(sdk.state) or JobState.ACTIVE.value),
        priority=sdk.priority or 0,
        task_counts=task_counts,
        created=sdk.creation_time,
    )


def depends_on(sdk: Any) -> tuple[str, ...]:
    return tuple(sdk.depends_on.task_ids) if sdk.depends_on and sdk.depends_on.task_ids else ()


def task(sdk: Any, job_id: str, blocked_by: tuple[str, ...] = ()) -> Task:
    """``blocked_by``: its dependencies that failed (Batch leaves such a task active, never run)."""
    info = sdk.execution_info
    node_info = sdk.node_info
    failure = _failure(info.failure_info) if info else None
    state = TaskState(value_of(sdk.state) or TaskState.ACTIVE.value)
    return Task(
        id=sdk.id,
        job_id=job_id,
        state=state,
        command_line=sdk.command_line or "",
        exit_code=info.exit_code if info else None,
        result=_result(info.result) if info else None,
        failure=failure,
        node_id=node_info.node_id if node_info else None,
        retry_count=(info.retry_count or 0) if info else 0,
        requeue_count=(info.requeue_count or 0) if info else 0,
        blocked_by=blocked_by if state == TaskState.ACTIVE else (),
        start_time=info.start_time if info else None,
        end_time=info.end_time if info else None,
    )


NODE_PREP_PREFIX = "shipyard: node prep: "


def failed_rules(stderr: str) -> tuple[FailedRule, ...]:
    """The rules node prep failed, from its start task's stderr: ``shipyard: node prep: ID: what; fix: how``
    (one line a rule; a retried start task repeats them, counted once)."""
    found: dict[str, FailedRule] = {}
    for line in stderr.splitlines():
        if not line.startswith(NODE_PREP_PREFIX) or "; fix: " not in line:
            continue
        rule, _, rest = line[len(NODE_PREP_PREFIX):].partition(": ")
        message, _, fix = rest.rpartition("; fix: ")
        if rule and " " not in rule and rule != "setup":
            found.setdefault(rule, FailedRule(rule, message, fix))
    return tuple(found.values())


def node_file(sdk: Any, prefix: str = "") -> NodeFile:
    name = sdk.name or ""
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    props = sdk.properties
    return NodeFile(name=name.strip("/"), is_directory=bool(sdk.is_directory),
                    size_bytes=props.content_length if props is not None and not sdk.is_directory else None)
