"""Azure Key Vault as a :class:`~shipyard.vault.protocol.Vault`: the SDK's secrets and certificates.

A certificate is imported from its PFX (``import_certificate``, the policy's content type
PKCS#12), so Key Vault keeps the key as the certificate's secret: the Key Vault VM extension
observes that secret's versionless id and places key and certificate on each node. Deletes wait
for the vault's soft delete to take the object out of the active list.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from shipyard.azure.keyvault import keyvault_clients
from shipyard.azure.retry import RetryOptions
from shipyard.config.credentials import Credentials
from shipyard.errors import VaultError
from shipyard.vault.protocol import CertificateItem, Secret, SecretItem

DELETE_WAIT_S = 120.0


def _secret_item(properties: Any) -> SecretItem:
    return SecretItem(id=properties.id, name=properties.name, version=properties.version,
                      tags=dict(properties.tags or {}), content_type=properties.content_type,
                      enabled=properties.enabled is not False, updated=properties.updated_on)


def _thumbprint(x5t: bytes | None) -> str:
    return x5t.hex() if x5t else ""


class AzureVault:
    def __init__(self, uri: str, credentials: Credentials | None, *, retry: RetryOptions | None = None) -> None:
        self.uri = uri
        self._clients = keyvault_clients(uri, credentials, retry=retry)
        self._poll_s = (retry or RetryOptions()).initial_backoff_s or 0.1

    @property
    def _secrets(self) -> Any:
        return self._clients.secrets

    @property
    def _certificates(self) -> Any:
        return self._clients.certificates

    def set_secret(self, name: str, value: str, *, tags: dict[str, str] | None = None,
                   content_type: str | None = None) -> SecretItem:
        made = self._clients.call(f"writing secret '{name}'", lambda: self._secrets.set_secret(
            name, value, tags=tags or None, content_type=content_type))
        return _secret_item(made.properties)

    def get_secret(self, name: str, version: str | None = None) -> Secret:
        found = self._clients.call(f"reading secret '{name}'", lambda: self._secrets.get_secret(name, version))
        return Secret(_secret_item(found.properties), SecretStr(found.value or ""))

    def delete_secret(self, name: str) -> None:
        poller = self._clients.call(f"deleting secret '{name}'", lambda: self._secrets.begin_delete_secret(
            name, _polling_interval=self._poll_s))
        self._wait(poller, f"secret '{name}'")

    def list_secrets(self) -> list[SecretItem]:
        found = self._clients.call("listing secrets", lambda: list(self._secrets.list_properties_of_secrets()))
        return sorted((_secret_item(p) for p in found if not p.managed), key=lambda s: s.name)

    def import_certificate(self, name: str, pfx: bytes, password: str | None) -> CertificateItem:
        from azure.keyvault.certificates import CertificateContentType, CertificatePolicy

        policy = CertificatePolicy(issuer_name="Unknown", content_type=CertificateContentType.pkcs12,
                                   exportable=True)  # the extension reads the key through the certificate's secret
        made = self._clients.call(f"importing certificate '{name}'", lambda: self._certificates.import_certificate(
            name, pfx, password=password, policy=policy))
        return self._item(made.properties)

    def _item(self, properties: Any) -> CertificateItem:
        return CertificateItem(id=properties.id, name=properties.name, thumbprint=_thumbprint(properties.x509_thumbprint),
                               secret_id=f"{self.uri}/secrets/{properties.name}", expires=properties.expires_on)

    def list_certificates(self) -> list[CertificateItem]:
        found = self._clients.call("listing certificates",
                                   lambda: list(self._certificates.list_properties_of_certificates()))
        return sorted((self._item(p) for p in found), key=lambda c: c.name)

    def delete_certificate(self, name: str) -> None:
        poller = self._clients.call(f"deleting certificate '{name}'", lambda: self._certificates.begin_delete_certificate(
            name, _polling_interval=self._poll_s))
        self._wait(poller, f"certificate '{name}'")

    def _wait(self, poller: Any, what: str) -> None:
        """Until the soft delete has taken ``what`` out of the active list (bounded)."""
        self._clients.call(f"waiting for {what} to be deleted", lambda: poller.wait(DELETE_WAIT_S))
        if not poller.done():
            raise VaultError(f"{what} is still being deleted after {DELETE_WAIT_S:.0f} s",
                             hint="Key Vault goes on with it: `shipyard keyvault list` shows when it is gone")
