"""A pool through the management plane (``azure-mgmt-batch``): the one way to give it a managed identity.

A pool with certificates (or a ``managed_identity``) is created as ``Microsoft.Batch/batchAccounts/pools``
with:

- ``identity``: the user-assigned identity of ``pool_specification.managed_identity``;
- the Key Vault VM extension (``KeyVaultForLinux`` 3.0, Batch's replacement for the retired pool
  certificates): it reads each certificate's versionless secret id as that identity (``msiClientId``)
  and writes key and chain in PEM into the root-only ``KEYVAULT_STORE``, where node prep reads them,
  before the start task runs (``requireInitialSync``);
- the same image, sizes, scheduling and start task as the data-plane request (:mod:`.to_sdk`).

The ARM model names ``scope: Pool``, ``elevationLevel: Admin`` as the data plane does, in its own case.
"""

from __future__ import annotations

import datetime
from typing import Any

from azure.mgmt.batch import models as am

from shipyard.node.secrets import KEYVAULT_STORE
from shipyard.pools.azure_batch.to_sdk import StartTaskPlan, image_reference, require_gallery_image, resize_timeout_s
from shipyard.pools.models import PoolSpec

KEYVAULT_EXTENSION = "KeyVaultForLinux"
KEYVAULT_PUBLISHER = "Microsoft.Azure.KeyVault"
KEYVAULT_VERSION = "3.0"
POLLING_INTERVAL_S = 3600  # a renewed certificate reaches the nodes within the hour
IMDS_IDENTITY = "http://169.254.169.254/metadata/identity"


def keyvault_extension(spec: PoolSpec) -> am.VMExtension:
    assert spec.identity is not None
    return am.VMExtension(
        name=KEYVAULT_EXTENSION, publisher=KEYVAULT_PUBLISHER, type=KEYVAULT_EXTENSION,
        type_handler_version=KEYVAULT_VERSION, auto_upgrade_minor_version=True, enable_automatic_upgrade=True,
        settings={
            "secretsManagementSettings": {
                "pollingIntervalInS": str(POLLING_INTERVAL_S),
                "certificateStoreLocation": str(KEYVAULT_STORE),
                "requireInitialSync": True,
                "observedCertificates": [c.secret_id for c in spec.certificates],
            },
            "authenticationSettings": {"msiEndpoint": IMDS_IDENTITY, "msiClientId": spec.identity.client_id},
        },
    )


def _image(arm_image_id: str) -> am.ImageReference:
    data = image_reference(arm_image_id)  # the same checks: a gallery image, never a managed image
    return am.ImageReference(id=data.virtual_machine_image_id, shared_gallery_image_id=data.shared_gallery_image_id,
                             community_gallery_image_id=data.community_gallery_image_id)


def _start_task(start: StartTaskPlan) -> am.StartTask:
    return am.StartTask(
        command_line=start.command_line,
        resource_files=[am.ResourceFile(http_url=f.http_url, file_path=f.file_path) for f in start.resource_files]
        or None,
        environment_settings=[am.EnvironmentSetting(name=k, value=v) for k, v in start.environment] or None,
        user_identity=am.UserIdentity(auto_user=am.AutoUserSpecification(scope="Pool", elevation_level="Admin")),
        wait_for_success=True,
        max_task_retry_count=start.retries,
    )


def needs_management_plane(spec: PoolSpec) -> bool:
    return spec.identity is not None or bool(spec.certificates)


def arm_pool(spec: PoolSpec, start: StartTaskPlan) -> am.Pool:
    assert spec.identity is not None
    image_id = require_gallery_image(spec)
    extensions = [keyvault_extension(spec)] if spec.certificates else None
    identity = am.BatchPoolIdentity(type="UserAssigned",
                                    user_assigned_identities={spec.identity.resource_id: am.UserAssignedIdentities()})
    properties: dict[str, Any] = {
        "vm_size": spec.vm_size,
        "deployment_configuration": am.DeploymentConfiguration(virtual_machine_configuration=am.VirtualMachineConfiguration(
            image_reference=_image(image_id), node_agent_sku_id=spec.image.node_agent,
            extensions=extensions)),
        "scale_settings": am.ScaleSettings(fixed_scale=am.FixedScaleSettings(
            target_dedicated_nodes=spec.dedicated, target_low_priority_nodes=spec.low_priority,
            resize_timeout=datetime.timedelta(seconds=resize_timeout_s(spec)))),
        "task_slots_per_node": spec.max_tasks_per_node,
        "task_scheduling_policy": am.TaskSchedulingPolicy(node_fill_type=spec.node_fill_type.value.capitalize()),
        "start_task": _start_task(start),
    }
    return am.Pool(identity=identity, properties=am.PoolProperties(**properties))
