"""The Batch account itself: its endpoint, name and region, and what the management plane says of it.

- :func:`account_url`: ``credentials.batch.account_service_url`` and the account's name.
- ``region_from_url`` (``config.credentials``): the region a Batch account URL names.
- :func:`read_account`: ``azure-mgmt-batch``'s view (location, allowed authentication modes, core
  quotas), when ``credentials.management.subscription_id`` and ``credentials.batch.resource_group``
  say where it is; None otherwise.
- :func:`account_region`: the URL's region, else the management plane's location.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError

from shipyard.azure.arm import management_client, subscription_of
from shipyard.azure.errors import map_sdk_error
from shipyard.config.credentials import Credentials, region_from_url
from shipyard.errors import ConfigError, ShipyardError

ACCOUNT_URL_PATH = "credentials.batch.account_service_url"


@dataclass(frozen=True)
class AccountInfo:
    location: str | None  # "westeurope"
    auth_modes: tuple[str, ...] | None  # "aad", "sharedkey", "taskauthenticationtoken"
    dedicated_cores: int | None
    spot_cores: int | None
    pool_allocation_mode: str | None  # "batchservice", "usersubscription"


def normalise(value: Any) -> str:
    return re.sub(r"[\s_-]", "", str(getattr(value, "value", value) or "")).lower()


def account_url(credentials: Credentials) -> tuple[str, str]:
    """(the account's endpoint URL, its name) from ``credentials.batch``."""
    batch = credentials.batch
    url = (batch.account_service_url or "").strip().rstrip("/") if batch else ""
    parts = urlsplit(url)
    if not url or parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("not a Batch account URL (https://<account>.<region>.batch.azure.com)", path=ACCOUNT_URL_PATH)
    name = (batch.account_name if batch else None) or parts.hostname.split(".")[0]
    return url, name


def read_account(credentials: Credentials, error: type[ShipyardError]) -> AccountInfo | None:
    batch = credentials.batch
    subscription = subscription_of(credentials)
    if subscription is None or batch is None or not batch.resource_group:
        return None
    from azure.mgmt.batch import BatchManagementClient

    arm = management_client(BatchManagementClient, credentials, subscription)
    _, name = account_url(credentials)
    try:
        found = arm.client.batch_account.get(batch.resource_group, name)
    except AzureError as exc:
        raise map_sdk_error(exc, f"reading Batch account '{name}'", arm.target, error=error) from None
    modes = tuple(normalise(m) for m in (found.allowed_authentication_modes or ())) or None
    return AccountInfo(normalise(found.location) or None, modes, found.dedicated_core_quota,
                       found.low_priority_core_quota, normalise(found.pool_allocation_mode) or None)


def account_region(credentials: Credentials, error: type[ShipyardError]) -> str | None:
    region = region_from_url(account_url(credentials)[0])
    if region is not None:
        return region
    account = read_account(credentials, error)
    return account.location if account else None
