"""shipyard's specs as the ``azure-batch`` SDK's request models, one to one.

- A pool boots from a Compute Gallery image: ``virtualMachineImageId`` for a gallery version or
  definition, ``sharedGalleryImageId`` / ``communityGalleryImageId`` for shared and community
  galleries (:mod:`shipyard.config.arm_ids`). There is no communication-mode field: today's API has
  only the simplified mode.
- The start task is shipyard's node prep (:class:`StartTaskPlan`): an admin auto-user at pool
  scope, ``wait_for_success`` so no task lands on a node that failed it, and a retry count.
- The resize timeout scales with the pool: at least 15 minutes per 1,000 nodes.
- A task's command line is not run under a shell, on either backend.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.batch import models as m

from shipyard.config.arm_ids import parse_image_id
from shipyard.errors import BackendError
from shipyard.node.task_environment import wrapped_command
from shipyard.pools.models import JobSpec, OutputFile, PoolSpec, ResourceFile, TaskAction, TaskSpec

MIN_RESIZE_TIMEOUT_S = 15 * 60.0
RESIZE_TIMEOUT_PER_1000_S = 15 * 60.0
START_TASK_RETRIES = 3


@dataclass(frozen=True)
class StartTaskPlan:
    """What the node's start task runs: the command and its files (SAS URLs: secrets, never shown)."""

    command_line: str
    resource_files: tuple[m.ResourceFile, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    retries: int = START_TASK_RETRIES


def planned_resize_timeout_s(nodes: int) -> float:
    """Batch's guidance: at least 15 minutes per 1,000 nodes (and 15 minutes for any pool)."""
    return max(MIN_RESIZE_TIMEOUT_S, math.ceil(nodes / 1000) * RESIZE_TIMEOUT_PER_1000_S)


def resize_timeout_s(spec: PoolSpec) -> float:
    """pool.yaml's resize_timeout, but never less than the planned one."""
    return max(planned_resize_timeout_s(spec.target_nodes), spec.resize_timeout_s or 0.0)


def image_reference(arm_image_id: str) -> m.BatchVmImageReference:
    parsed = parse_image_id(arm_image_id)
    if parsed is not None and parsed.kind == "managed_image":
        raise BackendError(f"arm_image_id '{arm_image_id}' is a managed image: Azure Batch retired managed-image "
                           "pools on 2026-03-31", hint="publish the VHD as a Compute Gallery image version with "
                                                       "`shipyard image publish` and use the id it prints")
    if parsed is None:
        raise BackendError(f"arm_image_id '{arm_image_id}' is no Compute Gallery image id",
                           hint="publish the VHD with `shipyard image publish` and use the id it prints")
    if parsed.kind == "shared":
        return m.BatchVmImageReference(shared_gallery_image_id=parsed.value)
    if parsed.kind == "community":
        return m.BatchVmImageReference(community_gallery_image_id=parsed.value)
    return m.BatchVmImageReference(virtual_machine_image_id=parsed.value)


def require_gallery_image(spec: PoolSpec) -> str:
    if not spec.image.arm_image_id:
        raise BackendError(f"pool '{spec.id}': Azure Batch needs a Compute Gallery image (arm_image_id), "
                           "not VHD image_uris", hint="run `shipyard image publish`, or `pool add --publish`")
    return spec.image.arm_image_id


def pool_options(spec: PoolSpec, start: StartTaskPlan) -> m.BatchPoolCreateOptions:
    require_gallery_image(spec)
    assert spec.image.arm_image_id is not None
    return m.BatchPoolCreateOptions(
        id=spec.id,
        vm_size=spec.vm_size,
        virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=image_reference(spec.image.arm_image_id), node_agent_sku_id=spec.image.node_agent),
        target_dedicated_nodes=spec.dedicated,
        target_low_priority_nodes=spec.low_priority,
        resize_timeout=datetime.timedelta(seconds=resize_timeout_s(spec)),
        task_slots_per_node=spec.max_tasks_per_node,
        task_scheduling_policy=m.BatchTaskSchedulingPolicy(node_fill_type=spec.node_fill_type.value),
        start_task=m.BatchStartTask(
            command_line=start.command_line,
            resource_files=list(start.resource_files) or None,
            environment_settings=[m.EnvironmentSetting(name=k, value=v) for k, v in start.environment] or None,
            user_identity=m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin")),
            wait_for_success=True,
            max_task_retry_count=start.retries,
        ),
    )


def resize_options(dedicated: int, low_priority: int, action: TaskAction) -> m.BatchPoolResizeOptions:
    timeout = planned_resize_timeout_s(dedicated + low_priority)
    return m.BatchPoolResizeOptions(target_dedicated_nodes=dedicated, target_low_priority_nodes=low_priority,
                                    resize_timeout=datetime.timedelta(seconds=timeout),
                                    node_deallocation_option=action.value)


def job_options(spec: JobSpec) -> m.BatchJobCreateOptions:
    constraints = (m.BatchJobConstraints(max_wall_clock_time=datetime.timedelta(seconds=spec.max_wall_time_s))
                   if spec.max_wall_time_s is not None else None)
    return m.BatchJobCreateOptions(
        id=spec.id,
        pool_info=m.BatchPoolInfo(pool_id=spec.pool_id),
        priority=spec.priority,
        # on every job: a task added later (jobs add, tasks add) may depend on one added before
        uses_task_dependencies=True,
        common_environment_settings=[m.EnvironmentSetting(name=k, value=v) for k, v in spec.environment] or None,
        constraints=constraints,
    )


def task_options(task: TaskSpec, sas: Mapping[str, str] | None = None) -> m.BatchTaskCreateOptions:
    """``sas``: a read URL for each ``blob_uri`` resource file and a write container URL for each
    output container (``link/container``); they are secrets."""
    urls = sas or {}
    constraints = None  # Batch's defaults (no retry, no wall-clock limit, 7 days' retention) are sent as nothing
    if task.max_task_retries or task.max_wall_time_s or task.retention_time_s:
        constraints = m.BatchTaskConstraints(
            max_task_retry_count=task.max_task_retries,
            max_wall_clock_time=datetime.timedelta(seconds=task.max_wall_time_s) if task.max_wall_time_s else None,
            retention_time=datetime.timedelta(seconds=task.retention_time_s) if task.retention_time_s else None,
        )
    container = None
    if task.container is not None:
        container = m.BatchTaskContainerSettings(image_name=task.container.image)
    exit_conditions = None
    if task.exit_job_on_failure:
        exit_conditions = m.ExitConditions(default=m.ExitOptions(job_action="terminate"))
    multi = None
    if task.multi_instance is not None:
        settings: dict[str, Any] = {
            "number_of_instances": task.multi_instance.instances,
            "common_resource_files": [resource_file(f, urls) for f in task.multi_instance.common_resource_files] or None}
        if task.multi_instance.coordination_command:
            settings["coordination_command_line"] = task.multi_instance.coordination_command
        multi = m.MultiInstanceSettings(**settings)
    return m.BatchTaskCreateOptions(
        id=task.id,
        multi_instance_settings=multi,
        command_line=wrapped_command(task.environment_secret_ids, task.command_line) if task.environment_secret_ids
        else task.command_line,  # its Key Vault environment read on the node as it starts
        environment_settings=[m.EnvironmentSetting(name=k, value=v) for k, v in task.environment] or None,
        constraints=constraints,
        depends_on=m.BatchTaskDependencies(task_ids=list(task.depends_on)) if task.depends_on else None,
        resource_files=[resource_file(f, urls) for f in task.resource_files] or None,
        output_files=[output_file(f, urls) for f in task.output_files] or None,
        container_settings=container,
        exit_conditions=exit_conditions,
    )


def resource_file(file: ResourceFile, urls: Mapping[str, str]) -> m.ResourceFile:
    if file.blob_uri is not None:
        url = urls.get(file.blob_uri)
        if url is None:
            raise BackendError(f"resource file {file.file_path}: no read URL for {file.blob_uri}")
        return m.ResourceFile(http_url=url, file_path=file.file_path, file_mode=file.file_mode)
    if file.http_url is not None:
        return m.ResourceFile(http_url=file.http_url, file_path=file.file_path, file_mode=file.file_mode)
    raise BackendError(f"resource file {file.file_path}: a local path ({file.local_path}) cannot reach an "
                       "Azure Batch node", hint="upload it to a storage link and name its blob")


def output_file(file: OutputFile, urls: Mapping[str, str]) -> m.OutputFile:
    key = f"{file.storage_link}/{file.container}"
    url = urls.get(key)
    if url is None:
        raise BackendError(f"output files {file.file_pattern}: no write URL for container {key}")
    return m.OutputFile(
        file_pattern=file.file_pattern,
        destination=m.OutputFileDestination(container=m.OutputFileBlobContainerDestination(
            container_url=url, path=file.prefix or None)),
        upload_options=m.OutputFileUploadConfiguration(upload_condition=file.upload_condition.value),
    )
