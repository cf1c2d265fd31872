"""One vault interface, for Azure Key Vault and the local vault: secrets and certificates.

A secret's value is a ``SecretStr`` from the moment it is read: no ``repr``, log line or error
shows it. A certificate is known by its name and its SHA-1 thumbprint (the ``sha1$<thumbprint>``
keys of ``pool_specification.certificates``); its ``secret_id`` is what the Key Vault VM
extension observes to place it on a node.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import SecretStr

from shipyard.redact import remember


@dataclass(frozen=True)
class SecretItem:
    id: str  # the version's full id
    name: str
    version: str | None
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    enabled: bool = True
    updated: datetime.datetime | None = None


@dataclass(frozen=True)
class Secret:
    """A secret read from a vault: its value is never shown from then on (``shipyard.redact.remember``)."""

    item: SecretItem
    value: SecretStr = field(repr=False)

    def __post_init__(self) -> None:
        remember(self.value.get_secret_value())


@dataclass(frozen=True)
class CertificateItem:
    id: str
    name: str
    thumbprint: str  # SHA-1, lower-case hex
    secret_id: str  # versionless: what the Key Vault VM extension observes (and follows on renewal)
    subject: str | None = None
    expires: datetime.datetime | None = None


class Vault(Protocol):
    uri: str  # https://<vault>.vault.azure.net, or local://<name>

    def set_secret(self, name: str, value: str, *, tags: dict[str, str] | None = None,
                   content_type: str | None = None) -> SecretItem: ...

    def get_secret(self, name: str, version: str | None = None) -> Secret: ...

    def delete_secret(self, name: str) -> None: ...

    def list_secrets(self) -> list[SecretItem]: ...

    def import_certificate(self, name: str, pfx: bytes, password: str | None) -> CertificateItem: ...

    def list_certificates(self) -> list[CertificateItem]: ...

    def delete_certificate(self, name: str) -> None: ...


def find_certificate(vault: Vault, thumbprint: str) -> CertificateItem | None:
    """The vault's certificate with this SHA-1 thumbprint (any case, colons allowed), or None."""
    wanted = thumbprint.replace(":", "").lower()
    return next((c for c in vault.list_certificates() if c.thumbprint == wanted), None)
