"""The Azure Batch backend: :class:`~shipyard.pools.protocol.PoolBackend` on ``azure.batch.BatchClient``.

Every method is one or a few SDK calls (:mod:`.to_sdk` builds the requests, :mod:`.from_sdk`
reads the answers) and keeps the contract the local backend keeps (``tests/pools/contract/``):

- Typed errors: a missing pool, job, task, node or file is a ``NotFoundError``; a taken id or a
  state that forbids the call a ``ConflictError``. Where the service would accept what the local
  backend refuses (a job for a pool that does not exist; a task id listed twice, which the service
  reports task by task), the backend checks first, so that both refuse alike and nothing is half
  added.
- Long operations are sent, not waited for (the SDK's poller watches them on a daemon thread,
  which ends with them or with the process), except ``delete_pool``, which returns when the pool
  is gone, as on the local backend.
- Paths of node and task files stay inside: ``..`` and absolute paths are refused before any request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from posixpath import normpath
from typing import TYPE_CHECKING, Any

from azure.batch import models as m
from azure.core.exceptions import AzureError

from shipyard.errors import BackendError, ConflictError, NotFoundError
from shipyard.pools.azure_batch import from_sdk, to_arm, to_sdk
from shipyard.pools.azure_batch.client import BatchSession
from shipyard.pools.models import (
    FailedRule,
    Job,
    JobSpec,
    JobState,
    Node,
    NodeFile,
    NodeState,
    Pool,
    PoolSpec,
    Task,
    TaskAction,
    TaskResult,
    TaskSpec,
    TaskState,
)
from shipyard.pools.protocol import Progress

if TYPE_CHECKING:
    from shipyard.pools.azure_batch.arm_pools import ArmPools

ADD_CONCURRENCY = 8  # parallel add-task-collection requests (the SDK's create_tasks)
DELETE_POLL_S = 5.0
DELETE_TIMEOUT_S = 30 * 60.0

StartTaskFor = Callable[[PoolSpec], to_sdk.StartTaskPlan]
SasFor = Callable[[Sequence[TaskSpec]], dict[str, str]]


def _inside(path: str) -> str:
    """``path`` relative and normalised, or ``NotFoundError``: nothing outside the node's or task's directory."""
    text = path.strip()
    if not text:
        return ""
    clean = normpath(text)
    if text.startswith("/") or clean == ".." or clean.startswith("../"):
        raise NotFoundError(f"{path}: no such file (paths are relative, and stay inside)")
    return "" if clean == "." else clean


class AzureBatchBackend:
    kind = "azure"

    def __init__(self, session: BatchSession, start_task: StartTaskFor, *, sas_for: SasFor | None = None,
                 poll_s: float = DELETE_POLL_S, arm_pools: Callable[[], ArmPools | None] | None = None) -> None:
        self.session = session
        self._arm_pools = arm_pools
        self._start_task = start_task
        self._sas_for = sas_for
        self._poll_s = poll_s
        self._failed_rules: dict[tuple[str, str, Any], tuple[FailedRule, ...]] = {}

    @property
    def client(self) -> Any:
        return self.session.client

    def _call(self, what: str, operation: Callable[[], Any], **codes: str) -> Any:
        return self.session.call(what, operation, codes=codes or None)

    # -- pools ---------------------------------------------------------------------------------

    def add_pool(self, spec: PoolSpec, *, progress: Progress | None = None) -> Pool:
        """Through the data plane; a pool with certificates or a managed identity through the management
        plane (:mod:`.to_arm`), the only API that gives a pool an identity."""
        if not to_arm.needs_management_plane(spec):
            options = to_sdk.pool_options(spec, self._start_task(spec))
            self._call(f"creating pool '{spec.id}'", lambda: self.client.create_pool(options),
                       PoolExists=f"pool '{spec.id}' already exists")
            return self.get_pool(spec.id)
        if spec.identity is None:
            raise BackendError(f"pool '{spec.id}': its certificates reach the nodes through the Key Vault VM "
                               "extension, which needs the pool's user-assigned identity",
                               hint="set pool_specification.managed_identity (resource_id, client_id)")
        arm = self._arm_pools() if self._arm_pools else None
        if arm is None:
            from shipyard.pools.azure_batch.arm_pools import MISSING_HINT

            raise BackendError(f"pool '{spec.id}' has a managed identity: it is created through the management "
                               "plane, which the credentials do not reach", hint=MISSING_HINT)
        to_sdk.require_gallery_image(spec)
        arm.create(spec.id, to_arm.arm_pool(spec, self._start_task(spec)))
        return self.get_pool(spec.id)

    def get_pool(self, pool_id: str) -> Pool:
        sdk = self._call(f"reading pool '{pool_id}'", lambda: self.client.get_pool(pool_id),
                         PoolNotFound=f"no pool '{pool_id}'")
        return from_sdk.pool(sdk, self._nodes(pool_id))

    def list_pools(self) -> list[Pool]:
        pools = self._call("listing pools", lambda: list(self.client.list_pools()))
        return sorted((from_sdk.pool(p, self._nodes(p.id)) for p in pools), key=lambda p: p.id)

    def resize_pool(self, pool_id: str, dedicated: int, low_priority: int, *,
                    task_action: TaskAction = TaskAction.REQUEUE) -> Pool:
        options = to_sdk.resize_options(dedicated, low_priority, task_action)
        self._call(f"resizing pool '{pool_id}'",
                   lambda: self.client.begin_resize_pool(pool_id, options),
                   PoolNotFound=f"no pool '{pool_id}'")
        return self.get_pool(pool_id)

    def delete_pool(self, pool_id: str) -> None:
        poller = self._call(f"deleting pool '{pool_id}'",
                            lambda: self.client.begin_delete_pool(pool_id, polling_interval=self._poll_s),
                            PoolNotFound=f"no pool '{pool_id}'")
        self._call(f"waiting for pool '{pool_id}' to be deleted", lambda: poller.result(timeout=DELETE_TIMEOUT_S))
        if not poller.done():
            raise BackendError(f"pool '{pool_id}' is still deleting after {DELETE_TIMEOUT_S / 60:.0f} minutes",
                               hint="it goes on in the service: `shipyard pool list` shows it until it is gone")

    # -- nodes ---------------------------------------------------------------------------------

    def _nodes(self, pool_id: str) -> list[Node]:
        nodes = self._call(f"listing the nodes of pool '{pool_id}'", lambda: list(self.client.list_nodes(pool_id)),
                           PoolNotFound=f"no pool '{pool_id}'")
        return [self._with_failed_rules(from_sdk.node(n, pool_id)) for n in nodes]

    def _with_failed_rules(self, node: Node) -> Node:
        """A node whose start task failed, with the rules node prep names in its stderr (read once per run)."""
        if node.state != NodeState.START_TASK_FAILED or node.start_task is None:
            return node
        key = (node.pool_id, node.id, node.start_task.start_time)
        if key not in self._failed_rules:
            try:
                text = self.read_node_file(node.pool_id, node.id, "startup/stderr.txt").decode(errors="replace")
            except NotFoundError:
                text = ""
            self._failed_rules[key] = from_sdk.failed_rules(text)
        return replace(node, start_task=replace(node.start_task, failed_rules=self._failed_rules[key]))

    def list_nodes(self, pool_id: str) -> list[Node]:
        return sorted(self._nodes(pool_id), key=lambda n: n.id)

    def _known_nodes(self, pool_id: str, node_ids: Sequence[str]) -> None:
        known = {n.id for n in self._nodes(pool_id)}
        missing = [n for n in node_ids if n not in known]
        if missing:
            raise NotFoundError(f"pool '{pool_id}' has no node {', '.join(missing)}")

    def delete_nodes(self, pool_id: str, node_ids: Sequence[str], *,
                     task_action: TaskAction = TaskAction.REQUEUE) -> None:
        self._known_nodes(pool_id, node_ids)
        options = m.BatchNodeRemoveOptions(node_ids=list(node_ids), node_deallocation_option=task_action.value)
        self._call(f"removing nodes from pool '{pool_id}'",
                   lambda: self.client.begin_remove_nodes(pool_id, options))

    def reboot_nodes(self, pool_id: str, node_ids: Sequence[str]) -> None:
        self._known_nodes(pool_id, node_ids)
        for node_id in node_ids:
            self._call(f"rebooting node {node_id}",
                       partial(self.client.begin_reboot_node, pool_id, node_id,
                               options={"nodeRebootOption": "requeue"}),  # (15.1 fails without options; its model is private)
                       NodeNotFound=f"pool '{pool_id}' has no node {node_id}")

    # -- jobs ----------------------------------------------------------------------------------

    def add_job(self, spec: JobSpec) -> Job:
        # the service takes a job for a pool that does not exist (its tasks then wait): refuse it, as locally
        try:  # (the SDK's pool_exists raises on the 404 it should answer False to)
            pool = self._call(f"reading pool '{spec.pool_id}'",
                              lambda: self.client.get_pool(spec.pool_id, select=["id", "identity"]),
                              PoolNotFound=f"no pool '{spec.pool_id}'")
        except NotFoundError:
            raise NotFoundError(f"job '{spec.id}': no pool '{spec.pool_id}'") from None
        reading = next((t.id for t in spec.tasks if t.environment_secret_ids), None)
        identity = getattr(pool, "identity", None)
        if reading is not None and not (identity and getattr(identity, "user_assigned_identities", None)):
            raise ConflictError(f"job '{spec.id}': task '{reading}' reads Key Vault environment variables, and pool "
                                f"'{spec.pool_id}' has no managed identity to read them as",
                                hint="give the pool pool_specification.managed_identity (a new pool: `pool add`)")
        self._call(f"adding job '{spec.id}'", lambda: self.client.create_job(to_sdk.job_options(spec)),
                   JobExists=f"job '{spec.id}' already exists")
        if spec.tasks:
            self.add_tasks(spec.id, spec.tasks)
        return self.get_job(spec.id)

    def get_job(self, job_id: str) -> Job:
        sdk = self._call(f"reading job '{job_id}'", lambda: self.client.get_job(job_id),
                         JobNotFound=f"no job '{job_id}'")
        return from_sdk.job(sdk, self._counts(job_id))

    def _counts(self, job_id: str) -> Any:
        result = self._call(f"counting the tasks of job '{job_id}'", lambda: self.client.get_job_task_counts(job_id),
                            JobNotFound=f"no job '{job_id}'")
        return result.task_counts if result is not None else None

    def list_jobs(self) -> list[Job]:
        found = []
        for sdk in self._call("listing jobs", lambda: list(self.client.list_jobs())):
            try:
                found.append(from_sdk.job(sdk, self._counts(sdk.id)))
            except NotFoundError:  # deleted between the list and its count: gone
                continue
        return sorted(found, key=lambda j: j.id)

    def terminate_job(self, job_id: str) -> None:
        self._call(f"terminating job '{job_id}'", lambda: self.client.begin_terminate_job(
            job_id, options={"terminateReason": "UserTerminate"}),  # (as for reboot)
                   JobNotFound=f"no job '{job_id}'")

    def delete_job(self, job_id: str) -> None:
        self._call(f"deleting job '{job_id}'", lambda: self.client.begin_delete_job(job_id),
                   JobNotFound=f"no job '{job_id}'")

    # -- tasks ---------------------------------------------------------------------------------

    def add_tasks(self, job_id: str, tasks: Iterable[TaskSpec]) -> list[Task]:
        specs = list(tasks)
        job = self.get_job(job_id)
        if job.state not in (JobState.ACTIVE, JobState.DISABLED, JobState.DISABLING, JobState.ENABLING):
            raise ConflictError(f"job '{job_id}' is {job.state.value}: it takes no more tasks")
        existing = {t.id for t in self._sdk_tasks(job_id)}
        seen: set[str] = set()
        for spec in specs:
            if spec.id in existing or spec.id in seen:
                raise ConflictError(f"job '{job_id}' already has a task '{spec.id}'")
            seen.add(spec.id)
        urls = self._sas_for(specs) if self._sas_for is not None else {}
        options = [to_sdk.task_options(spec, urls) for spec in specs]
        try:  # the SDK's bulk add: chunks of 100 (split again when a request is too large), in parallel
            self.client.create_tasks(job_id, options, max_concurrency=ADD_CONCURRENCY)
        except m.CreateTasksError as exc:
            refused = {item.task_id: item for item in exc.failure_tasks or ()}
            pending = {t.id for t in exc.pending_tasks or ()}
            for task_id in seen - set(refused) - pending:  # all or nothing, as on the local backend
                self._call(f"removing task '{task_id}'", partial(self.client.delete_task, job_id, task_id),
                           TaskNotFound="gone")
            codes = {item.error.code if item.error else str(item.status) for item in refused.values()}
            if codes & {"JobNotFound"}:
                raise NotFoundError(f"adding tasks to job '{job_id}': no job '{job_id}'") from None
            if codes & {"JobCompleted", "JobNotActive"}:
                raise ConflictError(f"adding tasks to job '{job_id}': it is completed and takes no more tasks") from None
            first = next(iter(exc.errors or ()), None)
            if first is not None and not refused:
                raise self.session.error(first, f"adding tasks to job '{job_id}'") from None
            shown = ", ".join(f"{task_id} ({item.error.code if item.error else item.status})"
                              for task_id, item in sorted(refused.items())[:5])
            raise BackendError(f"job '{job_id}': the service refused {len(refused)} task(s): {shown}; "
                               "none of them was added") from None
        except AzureError as exc:
            raise self.session.error(exc, f"adding tasks to job '{job_id}'") from None
        # as added (the service answers each add with its status only): active, not yet scheduled
        return [Task(spec.id, job_id, TaskState.ACTIVE, spec.command_line) for spec in specs]

    def _sdk_tasks(self, job_id: str) -> list[Any]:
        return self._call(f"listing the tasks of job '{job_id}'", lambda: list(self.client.list_tasks(job_id)),
                          JobNotFound=f"no job '{job_id}'")

    def list_tasks(self, job_id: str) -> list[Task]:
        sdk = self._sdk_tasks(job_id)
        failed = {t.id for t in sdk if t.execution_info is not None and from_sdk.value_of(t.execution_info.result) == TaskResult.FAILURE}
        return [from_sdk.task(t, job_id, tuple(d for d in from_sdk.depends_on(t) if d in failed)) for t in sdk]

    def get_task(self, job_id: str, task_id: str) -> Task:
        sdk = self._call(f"reading task '{task_id}'", lambda: self.client.get_task(job_id, task_id),
                         JobNotFound=f"no job '{job_id}'", TaskNotFound=f"job '{job_id}' has no task '{task_id}'")
        blocked: tuple[str, ...] = ()
        if from_sdk.depends_on(sdk) and from_sdk.value_of(sdk.state) == TaskState.ACTIVE:
            blocked = tuple(t.id for t in self.list_tasks(job_id) if t.id in from_sdk.depends_on(sdk)
                            and t.result == TaskResult.FAILURE)
        return from_sdk.task(sdk, job_id, blocked)

    def terminate_task(self, job_id: str, task_id: str) -> None:
        self._call(f"terminating task '{task_id}'", lambda: self.client.terminate_task(job_id, task_id),
                   JobNotFound=f"no job '{job_id}'", TaskNotFound=f"job '{job_id}' has no task '{task_id}'")

    # -- files ---------------------------------------------------------------------------------

    def _list_files(self, what: str, lister: Callable[..., Any], path: str, **codes: str) -> list[NodeFile]:
        where = _inside(path)
        return _children(self._call(what, lambda: list(lister(recursive=bool(where))), **codes), where)

    def _read_file(self, what: str, download: Callable[[str], Any], path: str, **codes: str) -> bytes:
        where = _inside(path)
        return self._call(f"reading {where} {what}", lambda: b"".join(download(where)),
                          FileNotFound=f"no file {where} {what}", **codes)

    def _node_codes(self, pool_id: str, node_id: str) -> dict[str, str]:
        return {"PoolNotFound": f"no pool '{pool_id}'", "NodeNotFound": f"pool '{pool_id}' has no node {node_id}"}

    def _task_codes(self, job_id: str, task_id: str) -> dict[str, str]:
        return {"JobNotFound": f"no job '{job_id}'", "TaskNotFound": f"job '{job_id}' has no task '{task_id}'"}

    def list_node_files(self, pool_id: str, node_id: str, path: str = "") -> list[NodeFile]:
        return self._list_files(f"listing files of node {node_id}", partial(self.client.list_node_files, pool_id, node_id),
                                path, **self._node_codes(pool_id, node_id))

    def read_node_file(self, pool_id: str, node_id: str, path: str) -> bytes:
        return self._read_file(f"on node {node_id}", partial(self.client.download_node_file, pool_id, node_id), path,
                               **self._node_codes(pool_id, node_id))

    def list_task_files(self, job_id: str, task_id: str, path: str = "") -> list[NodeFile]:
        return self._list_files(f"listing files of task '{task_id}'", partial(self.client.list_task_files, job_id, task_id),
                                path, **self._task_codes(job_id, task_id))

    def read_task_file(self, job_id: str, task_id: str, path: str) -> bytes:
        return self._read_file(f"of task '{task_id}'", partial(self.client.download_task_file, job_id, task_id), path,
                               **self._task_codes(job_id, task_id))

    def close(self) -> None:
        self.session.close()


def _children(files: list[Any], where: str) -> list[NodeFile]:
    """The entries directly in ``where`` (names relative to the root listed), as the local backend lists them."""
    prefix = f"{where}/" if where else ""
    out: dict[str, NodeFile] = {}
    for sdk in files:
        entry = from_sdk.node_file(sdk)
        if not entry.name.startswith(prefix) or entry.name == where:
            continue
        rest = entry.name[len(prefix):]
        if "/" in rest:  # a deeper entry: its top directory is the child
            top = prefix + rest.split("/", 1)[0]
            out.setdefault(top, NodeFile(top, True))
        else:
            out[entry.name] = entry
    if where and not out and not any(from_sdk.node_file(f).name == where for f in files):
        raise NotFoundError(f"{where}: no such directory")
    return sorted(out.values(), key=lambda f: f.name)
