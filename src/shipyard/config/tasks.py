"""``jobs.yaml``: a job's ``tasks`` and its ``merge_task`` (Batch Shipyard's schema)."""

from __future__ import annotations

from typing import Literal

from shipyard.config.base import Model, Text
from shipyard.config.data import AzureStorageInput, InputData, OutputData, ResourceFile
from shipyard.config.task_factory import TaskFactory

MpiRuntime = Literal["intelmpi", "intelmpi-ofa", "mpich", "mvapich", "openmpi"]


class ExitOptions(Model):
    job_action: Literal["none", "disable", "terminate"] | None = None
    dependency_action: Literal["block", "satisfy"] | None = None


class ExitCondition(Model):
    exit_options: ExitOptions | None = None


class ExitConditions(Model):
    default: ExitCondition | None = None


class Mpi(Model):
    runtime: MpiRuntime
    executable_path: str | None = None
    options: list[str] | None = None
    processes_per_node: Text | None = None


class MultiInstance(Model):
    # The schema lets num_instances out, but Batch Shipyard's own code then fails (a KeyError
    # in settings.task_settings); shipyard requires it.
    num_instances: Text
    coordination_command: str | None = None
    resource_files: list[ResourceFile] | None = None
    pre_execution_command: str | None = None
    mpi: Mpi | None = None


class SingularityExecution(Model):
    cmd: Literal["exec", "run"] | None = None
    elevated: bool | None = None


class TaskBase(Model):
    """What a task and the merge task share."""

    id: str | None = None
    docker_image: str | None = None
    singularity_image: str | None = None
    singularity_execution: SingularityExecution | None = None
    additional_singularity_options: list[str] | None = None
    command: str | None = None
    entrypoint: str | None = None
    name: str | None = None
    labels: list[str] | None = None
    environment_variables_keyvault_secret_id: str | None = None
    ports: list[str] | None = None
    data_volumes: list[str] | None = None
    shared_data_volumes: list[str] | None = None
    resource_files: list[ResourceFile] | None = None
    input_data: InputData | None = None
    remove_container_after_exit: bool | None = None
    shm_size: str | None = None
    additional_docker_run_options: list[str] | None = None
    infiniband: bool | None = None
    max_task_retries: int | None = None
    max_wall_time: str | None = None
    retention_time: str | None = None


class Task(TaskBase):
    environment_variables: dict[str, Text] | None = None
    output_data: OutputData | None = None
    default_working_dir: Literal["batch", "container"] | None = None
    gpus: Text | None = None
    depends_on: list[str] | None = None
    depends_on_range: list[int] | None = None
    exit_conditions: ExitConditions | None = None
    multi_instance: MultiInstance | None = None
    task_factory: TaskFactory | None = None


class MergeOutputStorage(AzureStorageInput):
    """Where a merge task's output goes: the schema gives it a storage input's shape."""


class MergeOutputData(Model):
    azure_storage: list[MergeOutputStorage] | None = None


class MergeTask(TaskBase):
    # The merge task's schema differs: string-only variables, ``gpu`` (a boolean), no
    # ``condition`` on its output.
    environment_variables: dict[str, str] | None = None
    output_data: MergeOutputData | None = None
    gpu: bool | None = None
