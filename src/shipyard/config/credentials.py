"""``credentials.yaml``: the Batch account and the storage links (Batch Shipyard's schema).

Secrets are ``SecretStr`` so that no repr, log line or error can show them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shipyard.config.base import Model, SecretText
from shipyard.config.keypath import KeyPath

DEFAULT_ENDPOINT = "core.windows.net"
DEFAULT_RESOURCE_MANAGER_URL = "https://management.azure.com"
LOCAL_ENDPOINT = "local"


class TokenCache(Model):
    enabled: bool | None = None
    filename: str | None = None


class Aad(Model):
    authority_url: str | None = None
    endpoint: str | None = None
    directory_id: str | None = None
    application_id: str | None = None
    auth_key: SecretStr | None = None
    rsa_private_key_pem: str | None = None
    x509_cert_sha1_thumbprint: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    token_cache: TokenCache | None = None


class ApplicationInsights(Model):
    application_id: str
    instrumentation_key: SecretStr


PoolAllocationMode = Literal["batch_service", "user_subscription"]


class BatchCredentials(Model):
    account_service_url: str | None = None
    account_key: SecretStr | None = None
    account_key_keyvault_secret_id: str | None = None
    aad: Aad | None = None
    resource_group: str | None = None
    test_cluster: bool | None = None
    application_insights: ApplicationInsights | None = None
    # shipyard extension: say which pool allocation mode the account was created with.
    pool_allocation_mode: PoolAllocationMode | None = None

    @field_validator("pool_allocation_mode", mode="before")
    @classmethod
    def _normalise_mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"batchservice": "batch_service", "usersubscription": "user_subscription"}.get(
                value.replace("_", "").replace(" ", "").lower(), value
            )
        return value

    @property
    def account_name(self) -> str | None:
        """The account name from ``https://<name>.<region>.batch.azure.com``."""
        if not self.account_service_url:
            return None
        host = self.account_service_url.split("://", 1)[-1].split("/", 1)[0]
        return host.split(".", 1)[0] or None


def region_from_url(url: str) -> str | None:
    """``https://<account>.<region>.batch.azure.com`` -> ``<region>``; None for another form (a
    private endpoint, a test server)."""
    from urllib.parse import urlsplit

    labels = (urlsplit(url).hostname or "").split(".")
    if len(labels) >= 4 and labels[2] == "batch" and labels[1].isalnum():
        return labels[1].lower()
    return None


class StorageLink(Model):
    """One named storage account. ``endpoint: local`` selects the embedded local store."""

    account: str
    account_key: SecretStr | None = None
    account_key_keyvault_secret_id: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    resource_group: str | None = None
    # shipyard extension: a full blob endpoint, for an emulator such as Azurite
    # (``http://127.0.0.1:10000/<account>``). Takes precedence over ``endpoint``.
    blob_endpoint: str | None = None
    # shipyard extension: where the account lives, so replicas stay in one subscription and region
    subscription_id: str | None = None
    location: str | None = None

    @field_validator("endpoint", mode="before")
    @classmethod
    def _default_endpoint(cls, value: Any) -> Any:
        return DEFAULT_ENDPOINT if value is None or value == "" else value

    @property
    def is_local(self) -> bool:
        return self.endpoint == LOCAL_ENDPOINT

    @property
    def blob_base_url(self) -> str:
        """Base URL under which this account's containers live."""
        if self.blob_endpoint:
            return self.blob_endpoint.rstrip("/")
        if self.is_local:
            return f"local://{self.account}"
        return f"https://{self.account}.blob.{self.endpoint}"


class Registry(Model):
    username: str
    password: SecretStr | None = None
    password_keyvault_secret_id: str | None = None


class Management(Model):
    aad: Aad | None = None
    subscription_id: str | None = None
    # shipyard extension: Azure Resource Manager's endpoint, for a sovereign cloud
    # (``https://management.usgovcloudapi.net``, ``https://management.chinacloudapi.cn``).
    resource_manager_url: str = DEFAULT_RESOURCE_MANAGER_URL

    @field_validator("resource_manager_url", mode="before")
    @classmethod
    def _default_resource_manager(cls, value: Any) -> Any:
        return DEFAULT_RESOURCE_MANAGER_URL if value is None or value == "" else value


class KeyVault(Model):
    aad: Aad | None = None
    credentials_secret_id: str | None = None
    uri: str | None = None


class GrafanaAdmin(Model):
    username: str
    password: SecretStr | None = None
    password_keyvault_secret_id: str | None = None


class Grafana(Model):
    admin: GrafanaAdmin


class MonitoringCredentials(Model):
    grafana: Grafana | None = None


class SlurmCredentials(Model):
    db_password: SecretText


class Credentials(Model):
    # ``storage_aad`` is written ``storage.aad`` (see ``_split_storage_aad``)
    key_paths: ClassVar[dict[str, KeyPath]] = {"storage_aad": ("storage", "aad")}

    aad: Aad | None = None
    batch: BatchCredentials | None = None
    storage: dict[str, StorageLink] = Field(default_factory=dict)
    storage_aad: Aad | None = None
    docker_registry: dict[str, Registry] = Field(default_factory=dict)
    singularity_registry: dict[str, Registry] = Field(default_factory=dict)
    management: Management | None = None
    keyvault: KeyVault | None = None
    monitoring: MonitoringCredentials | None = None
    slurm: SlurmCredentials | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_storage_aad(cls, data: Any) -> Any:
        # ``storage.aad`` is the AAD credential for storage; every other key is a link name.
        if isinstance(data, dict) and isinstance(data.get("storage"), dict) and "aad" in data["storage"]:
            data = dict(data)
            storage = dict(data["storage"])
            data["storage_aad"] = storage.pop("aad")
            data["storage"] = storage
        return data


class CredentialsFile(Model):
    credentials: Credentials
