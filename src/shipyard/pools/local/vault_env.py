"""Key Vault secrets read on a local node, as node prep and a task's start read them on Azure: a
``local://`` id from the local vault, an ``https://`` one from Key Vault as the node's managed
identity (``shipyard.node.keyvault``). Never by the CLI: the node's own process reads them.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.errors import ShipyardError


def local_secret(secret_id: str, client_id: str | None) -> str:
    """A secret for a local node: the local vault's (``local://``), else Key Vault's as the node's identity."""
    from shipyard.config.vault_ids import parse_vault_id

    parsed = parse_vault_id(secret_id, path="environment_variables_keyvault_secret_id")
    if not parsed.is_local:
        from shipyard.node.keyvault import fetch_secret

        return fetch_secret(secret_id, client_id)
    from shipyard.vault.local import LocalVault

    return LocalVault(parsed.vault_name).get_secret(parsed.name, parsed.version).value.get_secret_value()


def secret_environment(secret_ids: Iterable[str]) -> dict[str, str]:
    """The variables of each secret (a JSON object of names to values), later ones winning."""
    from shipyard.node.environment import secrets_environment

    try:
        return secrets_environment(secret_ids, local_secret)
    except ShipyardError as exc:
        raise ShipyardError(f"environment_variables_keyvault_secret_id: {exc.message}") from None
