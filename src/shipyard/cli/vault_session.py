"""The vault a ``keyvault`` or ``cert`` command works on: ``--keyvault-uri``, else ``credentials.keyvault.uri``.

The credentials file is read as it is (its ``credentials_secret_id`` is not followed: these
commands are how the credentials get into the vault), and only for the vault's address and its
``keyvault`` AAD settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from shipyard.cli.options import Settings
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError


@dataclass
class VaultSession:
    vault: Any  # shipyard.vault.protocol.Vault
    credentials: Any  # the credentials file's model, or None
    document: Any  # the credentials file's Document, or None


def keyvault_uri_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--keyvault-uri", metavar="URI", envvar="SHIPYARD_KEYVAULT_URI",
                        help="The vault: https://<vault>.vault.azure.net, or local://<name> on this machine "
                             "[$SHIPYARD_KEYVAULT_URI; default: credentials.keyvault.uri].")(func)


def open_session(settings: Settings, keyvault_uri: str | None) -> VaultSession:
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths
    from shipyard.vault import open_vault

    found = settings.config_paths().files
    credentials = document = None
    if ConfigKind.CREDENTIALS in found:
        loaded = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: found[ConfigKind.CREDENTIALS]}), from_vault=False)
        loaded.require(ConfigKind.CREDENTIALS)
        credentials = loaded.credentials
        document = loaded.files[ConfigKind.CREDENTIALS].document
    uri = keyvault_uri or (credentials.keyvault.uri if credentials and credentials.keyvault else None)
    if not uri:
        raise UsageError("no vault: pass --keyvault-uri URI, or set credentials.keyvault.uri")
    path = "--keyvault-uri" if keyvault_uri else "credentials.keyvault.uri"
    return VaultSession(open_vault(uri, credentials, path=path), credentials, document)


def delete_confirmed(settings: Settings, session: VaultSession, what: str, name: str,
                     delete: Callable[[str], None]) -> int:
    """Delete ``what`` (``secret``, ``certificate``) ``name`` once confirmed (``-y``), and say so."""
    from shipyard.cli import render
    from shipyard.cli.prompt import confirm

    uri = session.vault.uri
    if not confirm(settings, f"delete {what} '{name}' from {uri}?"):
        return 1
    delete(name)
    if settings.raw:
        render.emit_json({"deleted": name, "kind": what, "vault": uri})
    else:
        render.line(f"deleted {what} '{name}' from {uri}")
    return 0
