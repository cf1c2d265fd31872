"""Key Vault object ids as the config files write them, parsed: ``*_keyvault_secret_id``,
``credentials_secret_id``, ``environment_variables_keyvault_secret_id`` and ``credentials.keyvault.uri``.

- Azure: ``https://<vault>.vault.azure.net/secrets/<name>[/<version>]`` (any Key Vault DNS
  suffix: sovereign clouds, a private endpoint; a vault URI is the part before ``/secrets``);
- local: ``local://<vault>/secrets/<name>[/<version>]``, a vault under the shipyard home that
  serves the same ids on one machine (:mod:`shipyard.vault.local`).

Object names follow Key Vault's rule: 1 to 127 letters, digits and dashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from shipyard.errors import ConfigError

Collection = Literal["secrets", "certificates", "keys"]
LOCAL_SCHEME = "local"
NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VAULT_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,62}$")


@dataclass(frozen=True)
class VaultId:
    """One object of a vault: ``vault_uri`` (``https://v.vault.azure.net`` or ``local://v``), its
    collection, name and version (None: the current one)."""

    vault_uri: str
    collection: Collection
    name: str
    version: str | None = None

    @property
    def is_local(self) -> bool:
        return self.vault_uri.startswith(f"{LOCAL_SCHEME}://")

    @property
    def vault_name(self) -> str:
        return (urlsplit(self.vault_uri).hostname or "").split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.vault_uri}/{self.collection}/{self.name}" + (f"/{self.version}" if self.version else "")


def parse_vault_uri(uri: str, *, path: str = "credentials.keyvault.uri") -> str:
    """A vault's URI, normalised (``https://v.vault.azure.net``, ``local://v``); a ConfigError names ``path``."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    host = parts.netloc if scheme == LOCAL_SCHEME else (parts.hostname or "")
    if scheme not in ("https", LOCAL_SCHEME) or not host or parts.path.strip("/") or parts.query:
        raise ConfigError(f"'{_shown(uri)}' is not a vault URI (https://<vault>.vault.azure.net, or local://<name>)",
                          path=path)
    if scheme == LOCAL_SCHEME:
        if not _VAULT_NAME.match(host):
            raise ConfigError(f"'{_shown(uri)}': a local vault's name is letters, digits and dashes", path=path)
        return f"{LOCAL_SCHEME}://{host}"
    return f"https://{parts.netloc.lower()}"


def parse_vault_id(value: str, *, path: str, collection: Collection = "secrets") -> VaultId:
    """``<vault uri>/<collection>/<name>[/<version>]``; a ConfigError names ``path`` when it is not one."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    pieces = rest.split("/") if sep else []
    if len(pieces) not in (3, 4) or pieces[1] != collection:
        raise ConfigError(f"'{_shown(text)}' is not a Key Vault {collection[:-1]} id "
                          f"(https://<vault>.vault.azure.net/{collection}/<name>[/<version>], or "
                          f"local://<vault>/{collection}/<name>)", path=path)
    vault = parse_vault_uri(f"{scheme}://{pieces[0]}", path=path)
    name, version = pieces[2], (pieces[3] if len(pieces) == 4 and pieces[3] else None)
    if not NAME.match(name) or (version is not None and not re.match(r"^[0-9A-Za-z]{1,64}$", version)):
        raise ConfigError(f"'{_shown(text)}': a Key Vault name is 1 to 127 letters, digits and dashes", path=path)
    return VaultId(vault, collection, name, version)


def check_name(name: str, *, what: str = "name") -> str:
    if not NAME.match(name):
        raise ConfigError(f"'{_shown(name)}' is not a Key Vault {what}: 1 to 127 letters, digits and dashes")
    return name


def _shown(text: str) -> str:
    """At most 120 characters of a value in a message (an id is no secret, but a paste may be long)."""
    return text if len(text) <= 120 else text[:117] + "..."
