"""Pools created through the management plane (``BatchManagementClient.pool.create``), for the pools
the data plane cannot make: those with a managed identity and the Key Vault VM extension.

It needs the account's subscription (``credentials.management.subscription_id``) and resource group
(``credentials.batch.resource_group``); without them :func:`open_arm_pools` is None and such a pool
is refused with what to set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError

from shipyard.azure.arm import ArmClient, management_client, subscription_of
from shipyard.azure.batch_account import account_url
from shipyard.azure.errors import error_code, map_sdk_error
from shipyard.config.credentials import Credentials
from shipyard.errors import BackendError, ConflictError

MISSING_HINT = ("a pool with a managed identity is created through the management plane: set "
                "credentials.management.subscription_id and credentials.batch.resource_group")


@dataclass
class ArmPools:
    arm: ArmClient
    resource_group: str
    account: str

    def create(self, pool_id: str, body: Any) -> None:
        try:
            self.arm.client.pool.create(self.resource_group, self.account, pool_id, body)
        except AzureError as exc:
            code = error_code(exc)
            kind = ConflictError if code in ("PoolExists", "Conflict") else BackendError
            raise map_sdk_error(exc, f"creating pool '{pool_id}' (management plane)", self.arm.target, error=kind,
                                codes={"PoolExists": f"pool '{pool_id}' already exists"}) from None


def open_arm_pools(credentials: Credentials) -> ArmPools | None:
    from azure.mgmt.batch import BatchManagementClient

    subscription = subscription_of(credentials)
    batch = credentials.batch
    if subscription is None or batch is None or not batch.resource_group:
        return None
    _, name = account_url(credentials)
    arm = management_client(BatchManagementClient, credentials, subscription, error=BackendError,
                            aad_hint="give the principal Contributor on the Batch account, and Managed Identity "
                                     "Operator on the pool's identity")
    return ArmPools(arm, batch.resource_group, name)
