"""Key Vault clients (``azure-keyvault-secrets``, ``azure-keyvault-certificates``) from ``credentials.yaml``.

The credential is Azure AD from ``credentials.keyvault.aad``, each key else the global
``credentials.aad``'s (Batch Shipyard's rule, :func:`~shipyard.azure.credentials.merge_aad`); no
principal means ``DefaultAzureCredential`` (az login, a managed identity). Key Vault answers the
first request with a challenge that names its tenant and audience, and the SDK checks that audience
against the vault's domain: a loopback vault (a test server, an emulator) is not held to it.
Every call maps its SDK failure to one line (:func:`call`), secrets redacted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError

from shipyard.azure.credentials import Credential, aad_credential, merge_aad
from shipyard.azure.errors import Target, error_code, map_sdk_error, response_logger
from shipyard.azure.retry import RetryOptions
from shipyard.config.credentials import Credentials
from shipyard.errors import VaultError, VaultObjectNotFound

log = logging.getLogger(__name__)
T = TypeVar("T")
NOT_FOUND_CODES = frozenset({"SecretNotFound", "CertificateNotFound", "KeyNotFound", "NotFound"})
ROLE_HINT = ("give the principal a role on the vault: 'Key Vault Secrets User' to read secrets, 'Key Vault Secrets "
             "Officer' / 'Key Vault Certificates Officer' to write them (credentials.keyvault.aad)")


@dataclass(frozen=True)
class KeyVaultClients:
    uri: str
    secrets: Any  # azure.keyvault.secrets.SecretClient
    certificates: Any  # azure.keyvault.certificates.CertificateClient
    target: Target

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """``operation()``, its SDK failure one line: a missing object is :class:`VaultObjectNotFound` (exit 2)."""
        try:
            return operation()
        except AzureError as exc:
            code = error_code(exc)
            missing = code in NOT_FOUND_CODES or (getattr(exc, "status_code", None) == 404 and not code)
            raise map_sdk_error(exc, what, self.target, error=VaultObjectNotFound if missing else VaultError,
                                codes=dict.fromkeys(NOT_FOUND_CODES, f"{self.target.name} has no such object")) from None


def keyvault_credential(credentials: Credentials | None) -> Credential:
    keyvault = credentials.keyvault if credentials else None
    return aad_credential(merge_aad(keyvault.aad if keyvault else None, credentials.aad if credentials else None),
                          section="credentials.keyvault.aad")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keyvault_clients(vault_uri: str, credentials: Credentials | None, *,
                     retry: RetryOptions | None = None) -> KeyVaultClients:
    from azure.keyvault.certificates import CertificateClient
    from azure.keyvault.secrets import SecretClient

    credential = keyvault_credential(credentials)
    options = retry or RetryOptions()
    name = (urlsplit(vault_uri).hostname or vault_uri).split(".", 1)[0]
    target = Target(f"Key Vault '{name}'", vault_uri, secrets=credential.secrets,
                    connect_timeout_s=options.connection_timeout_s, read_timeout_s=options.read_timeout_s,
                    aad_hint=ROLE_HINT,
                    bare_404="no such vault, or no such object in it",
                    bare_404_hint="check credentials.keyvault.uri and the id")
    kwargs: dict[str, Any] = {"verify_challenge_resource": not is_loopback(vault_uri),
                              "raw_response_hook": response_logger(log), **options.client_kwargs(log)}
    return KeyVaultClients(vault_uri, SecretClient(vault_uri, credential.sdk, **kwargs),
                           CertificateClient(vault_uri, credential.sdk, **kwargs), target)
