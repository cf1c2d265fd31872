"""``jobs.yaml``: ``job_specifications`` and their tasks (Batch Shipyard's schema)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shipyard.config.base import Model, Text


class MultiInstance(Model):
    num_instances: Text
    coordination_command: str | None = None
    resource_files: list[dict[str, Any]] | None = None
    pre_execution_command: str | None = None
    mpi: dict[str, Any] | None = None


class Task(Model):
    id: str | None = None
    docker_image: str | None = None
    singularity_image: str | None = None
    command: str | None = None
    entrypoint: str | None = None
    name: str | None = None
    labels: list[str] | None = None
    environment_variables: dict[str, Text] | None = None
    environment_variables_keyvault_secret_id: str | None = None
    ports: list[str] | None = None
    data_volumes: list[str] | None = None
    shared_data_volumes: list[str] | None = None
    resource_files: list[dict[str, Any]] | None = None
    input_data: dict[str, Any] | None = None
    output_data: dict[str, Any] | None = None
    default_working_dir: str | None = None
    remove_container_after_exit: bool | None = None
    shm_size: str | None = None
    additional_docker_run_options: list[str] | None = None
    infiniband: bool | None = None
    gpus: Text | None = None
    depends_on: list[str] | None = None
    depends_on_range: list[int] | None = None
    max_task_retries: int | None = None
    max_wall_time: str | None = None
    retention_time: str | None = None
    exit_conditions: dict[str, Any] | None = None
    multi_instance: MultiInstance | None = None
    task_factory: dict[str, Any] | None = None


class JobSpecification(Model):
    id: str
    auto_complete: bool | None = None
    environment_variables: dict[str, Text] | None = None
    max_task_retries: int | None = None
    max_wall_time: str | None = None
    priority: int | None = None
    infiniband: bool | None = None
    gpus: Text | None = None
    data_volumes: list[str] | None = None
    shared_data_volumes: list[str] | None = None
    auto_pool: dict[str, Any] | None = None
    recurrence: dict[str, Any] | None = None
    tasks: list[Task] = Field(default_factory=list)
    merge_task: Task | None = None


class JobsFile(Model):
    job_specifications: list[JobSpecification]
