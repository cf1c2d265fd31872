"""Vaults: Azure Key Vault (``https://<vault>.vault.azure.net``) and the local vault (``local://<name>``),
one interface (:mod:`~shipyard.vault.protocol`), secrets and certificates.

- :func:`open_vault`: the vault a URI names;
- :mod:`~shipyard.vault.resolve`: the credentials' Key Vault references (``*_keyvault_secret_id``,
  ``credentials_secret_id``) fetched when a command uses them;
- a pool's certificates are found in its vault before allocation by ``shipyard.pools.certificates``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.config.vault_ids import parse_vault_uri

if TYPE_CHECKING:
    from shipyard.config.credentials import Credentials
    from shipyard.vault.protocol import Vault


def open_vault(uri: str, credentials: Credentials | None = None, *, home: Path | str | None = None,
               path: str = "credentials.keyvault.uri") -> Vault:
    """The vault ``uri`` names: local (``local://name``, under the shipyard home) or Azure Key Vault."""
    uri = parse_vault_uri(uri, path=path)
    if uri.startswith("local://"):
        from shipyard.vault.local import LocalVault

        return LocalVault(uri.removeprefix("local://"), home)
    from shipyard.vault.azure import AzureVault

    return AzureVault(uri, credentials)
