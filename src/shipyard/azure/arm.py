"""Azure Resource Manager clients (``azure-mgmt-*``), built one way for every caller.

``management_client(cls, credentials, subscription)`` gives any management SDK client (Compute
for galleries, Batch for accounts) the management plane's Azure AD credential, the endpoint
(``credentials.management.resource_manager_url``: Azure's public cloud by default, a sovereign
cloud's where set), its token audience, the shared retry policy and the secret-free HTTP log
hook. An Azure AD token is only ever sent over https.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from shipyard.azure.credentials import management_credential, require_https
from shipyard.azure.errors import Target, response_logger
from shipyard.azure.retry import RetryOptions
from shipyard.config.credentials import Credentials
from shipyard.errors import ConfigError, ShipyardError

log = logging.getLogger(__name__)
C = TypeVar("C")
PUBLIC_CLOUD = "https://management.azure.com"


@dataclass(frozen=True)
class ArmClient:
    client: Any
    target: Target
    url: str


def resource_manager_url(credentials: Credentials) -> str:
    management = credentials.management
    return (management.resource_manager_url if management else PUBLIC_CLOUD).rstrip("/")


def subscription_of(credentials: Credentials) -> str | None:
    management = credentials.management
    return management.subscription_id if management and management.subscription_id else None


def management_client(cls: type[C], credentials: Credentials, subscription: str, *,
                      retry: RetryOptions | None = None, aad_hint: str | None = None,
                      error: type[ShipyardError] = ConfigError) -> ArmClient:
    """``error``: what a plain-http endpoint is refused as."""
    url = resource_manager_url(credentials)
    credential = management_credential(credentials)
    require_https(credential, url, where="Azure Resource Manager", error=error,
                  hint="credentials.management.resource_manager_url must be an https URL")
    options = retry or RetryOptions()
    target = Target("Azure Resource Manager", url, secrets=credential.secrets,
                    connect_timeout_s=options.connection_timeout_s, read_timeout_s=options.read_timeout_s,
                    aad_hint=aad_hint or "check the principal's role assignments (credentials.management.aad)")
    client = cls(credential.sdk, subscription, base_url=url, credential_scopes=[f"{url}/.default"],  # type: ignore[call-arg]
                 raw_response_hook=response_logger(log), **options.client_kwargs(log))
    return ArmClient(client, target, url)
