"""What the pool backends take and return, in Azure Batch's names and states.

Every model is a frozen dataclass of plain values (no SDK type), so the local backend stores it
in SQLite and the Azure Batch backend maps it to and from the SDK's models one to one. Times
are UTC ``datetime``s; durations are seconds (``None``: unbounded, Batch's default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class NodeState(StrEnum):  # Batch's ComputeNodeState values, as strings
    CREATING = "creating"
    STARTING = "starting"
    WAITING_FOR_START_TASK = "waitingforstarttask"
    START_TASK_FAILED = "starttaskfailed"
    IDLE = "idle"
    RUNNING = "running"
    REBOOTING = "rebooting"
    UNUSABLE = "unusable"
    OFFLINE = "offline"
    LEAVING_POOL = "leavingpool"
    # the Azure Batch backend's only: the local backend never preempts, reimages or deallocates
    PREEMPTED = "preempted"
    REIMAGING = "reimaging"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"
    UPGRADING_OS = "upgradingos"
    UNKNOWN = "unknown"


class PoolState(StrEnum):  # Batch's PoolState
    ACTIVE = "active"
    DELETING = "deleting"


class AllocationState(StrEnum):  # Batch's AllocationState
    STEADY = "steady"
    RESIZING = "resizing"
    STOPPING = "stopping"


class JobState(StrEnum):  # Batch's JobState
    ACTIVE = "active"
    TERMINATING = "terminating"
    COMPLETED = "completed"
    DELETING = "deleting"
    # the Azure Batch backend's only (a job disabled outside shipyard)
    DISABLING = "disabling"
    DISABLED = "disabled"
    ENABLING = "enabling"


class TaskState(StrEnum):  # Batch's TaskState
    ACTIVE = "active"
    PREPARING = "preparing"
    RUNNING = "running"
    COMPLETED = "completed"


class TaskResult(StrEnum):  # Batch's TaskExecutionResult
    SUCCESS = "success"
    FAILURE = "failure"


class NodeFillType(StrEnum):  # Batch's ComputeNodeFillType
    PACK = "pack"
    SPREAD = "spread"


class TaskAction(StrEnum):  # Batch's ComputeNodeDeallocationOption
    """What happens to a node's running tasks when the node leaves the pool."""

    REQUEUE = "requeue"
    TERMINATE = "terminate"
    TASK_COMPLETION = "taskcompletion"
    RETAINED_DATA = "retaineddata"


class UploadCondition(StrEnum):  # Batch's OutputFileUploadCondition
    TASK_SUCCESS = "tasksuccess"
    TASK_FAILURE = "taskfailure"
    TASK_COMPLETION = "taskcompletion"


class ErrorCategory(StrEnum):  # Batch's ErrorCategory
    USER_ERROR = "usererror"
    SERVER_ERROR = "servererror"


@dataclass(frozen=True)
class FailureInfo:
    """Why a task or start task failed: Batch's TaskFailureInformation."""

    category: ErrorCategory
    code: str  # e.g. "FailureExitCode", "MaxWallClockTimeExpiry", "ContainerRuntimeUnavailable"
    message: str


@dataclass(frozen=True)
class FailedRule:
    """A rule that rejected the image a node boots from: its id and how to fix it."""

    id: str
    message: str
    fix: str


# --- what is added ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSource:
    """The pool's custom image: VHD copies (the local backend) or a gallery image (Azure)."""

    node_agent: str
    image_uris: tuple[str, ...] = ()
    arm_image_id: str | None = None


@dataclass(frozen=True)
class StartCommands:
    """``additional_node_prep``'s commands, run after node prep (``pre``) and after set-up (``post``)."""

    pre: tuple[str, ...] = ()
    post: tuple[str, ...] = ()
    # the commands have environment variables of their own (node prep builds them on the node)
    environment: bool = False


@dataclass(frozen=True)
class PoolSpec:
    id: str
    vm_size: str
    image: ImageSource
    dedicated: int = 0
    low_priority: int = 0
    max_tasks_per_node: int = 1
    node_fill_type: NodeFillType = NodeFillType.SPREAD
    start_commands: StartCommands = field(default_factory=StartCommands)
    # the config files node prep reads on every node (kind -> path): credentials, config, pool
    config_files: tuple[tuple[str, str], ...] = ()
    # the local backend's node runtime: "image" (each process inside the image's root) or "host"
    node_runtime: str = "host"
    # the image runtime's unpacked roots (``pools.local.rootcache``): (VHD URI, cache key)
    image_roots: tuple[tuple[str, str], ...] = ()
    # how long Azure Batch may take to allocate the nodes (pool.yaml's resize_timeout; None: planned
    # from the pool's size, at least 15 minutes per 1,000 nodes)
    resize_timeout_s: float | None = None
    identity: PoolIdentity | None = None
    # found in the vault by admission (``pools.certificates``); empty until then
    certificates: tuple[PoolCertificate, ...] = ()

    @property
    def target_nodes(self) -> int:
        return self.dedicated + self.low_priority


@dataclass(frozen=True)
class PoolCertificate:
    """A certificate the pool's nodes get, found in the vault before allocation."""

    key: str  # as pool.yaml names it (sha1$<thumbprint>, or the vault's name for it)
    thumbprint: str  # SHA-1, lower-case hex
    name: str  # its name in the vault
    secret_id: str  # the vault's versionless secret id: what the Key Vault VM extension observes
    vault_uri: str


@dataclass(frozen=True)
class PoolIdentity:
    """The pool's user-assigned managed identity (Azure)."""

    resource_id: str
    client_id: str


@dataclass(frozen=True)
class ResourceFile:
    """A file put in the task's working directory before it runs: from a blob, a URL or a local path."""

    file_path: str  # relative to the task's working directory
    blob_uri: str | None = None  # a bare page/block blob URI of a storage link
    local_path: str | None = None
    http_url: str | None = None  # Batch's httpUrl: any other http(s) URL; it may carry a SAS: never log it
    file_mode: str | None = None  # Batch's fileMode, octal, e.g. "0750"


@dataclass(frozen=True)
class OutputFile:
    """Files matching ``file_pattern`` (relative to the task directory) uploaded after the task."""

    file_pattern: str
    container: str
    storage_link: str
    prefix: str = ""  # the blobs' virtual directory, ending in "/" (Batch's destination path)
    upload_condition: UploadCondition = UploadCondition.TASK_COMPLETION


@dataclass(frozen=True)
class Container:
    runtime: str  # "docker" or "singularity"
    image: str


@dataclass(frozen=True)
class MultiInstance:
    """An MPI-style task over several nodes: Batch's MultiInstanceSettings. The coordination command
    runs on every node, the task's command on the primary one after it."""

    instances: int
    coordination_command: str | None = None
    common_resource_files: tuple[ResourceFile, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    id: str
    command_line: str  # not run under a shell: split and executed, as Batch does
    environment: tuple[tuple[str, str], ...] = ()
    # Key Vault secrets of environment variables (the job's, then the task's): fetched on the node
    # when the task starts, never by the CLI; their variables win over the plain ones
    environment_secret_ids: tuple[str, ...] = ()
    max_task_retries: int = 0
    max_wall_time_s: float | None = None
    retention_time_s: float | None = None  # how long its directory stays after it completes (None: Batch's 7 days)
    depends_on: tuple[str, ...] = ()
    resource_files: tuple[ResourceFile, ...] = ()
    output_files: tuple[OutputFile, ...] = ()
    container: Container | None = None
    exit_job_on_failure: bool = False  # exit_conditions.default.exit_options.job_action: terminate
    multi_instance: MultiInstance | None = None  # the Azure Batch backend's only, for now


@dataclass(frozen=True)
class JobSpec:
    id: str
    pool_id: str
    priority: int = 0
    environment: tuple[tuple[str, str], ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    max_wall_time_s: float | None = None  # Batch's job constraint: how long the job may stay active


# --- what is read back --------------------------------------------------------------------------


@dataclass(frozen=True)
class StartTaskInfo:
    state: str  # "running" or "completed"
    exit_code: int | None = None
    result: TaskResult | None = None
    failure: FailureInfo | None = None
    failed_rules: tuple[FailedRule, ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class Node:
    id: str
    pool_id: str
    state: NodeState
    is_dedicated: bool
    image_uri: str | None  # the VHD this node boots from
    running_tasks: int = 0
    start_task: StartTaskInfo | None = None
    state_changed: datetime | None = None


@dataclass(frozen=True)
class Pool:
    id: str
    state: PoolState
    allocation_state: AllocationState
    vm_size: str
    image: ImageSource
    target_dedicated: int
    target_low_priority: int
    current_dedicated: int
    current_low_priority: int
    max_tasks_per_node: int
    node_fill_type: NodeFillType
    node_counts: tuple[tuple[NodeState, int], ...] = ()
    created: datetime | None = None
    node_runtime: str | None = None  # the local backend's: "image" or "host" (None on Azure)


@dataclass(frozen=True)
class Job:
    id: str
    pool_id: str
    state: JobState
    priority: int
    task_counts: tuple[tuple[TaskState, int], ...] = ()
    created: datetime | None = None


@dataclass(frozen=True)
class Task:
    id: str
    job_id: str
    state: TaskState
    command_line: str
    exit_code: int | None = None
    result: TaskResult | None = None
    failure: FailureInfo | None = None
    node_id: str | None = None
    retry_count: int = 0
    requeue_count: int = 0  # times it went back to active with its node, using no retry
    blocked_by: tuple[str, ...] = ()  # dependencies that failed: it will not run
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class NodeFile:
    name: str  # relative to the node's root (node files) or the task's directory (task files)
    is_directory: bool
    size_bytes: int | None = None
