"""The credentials' Key Vault references, fetched when a command uses them.

``config.decrypt.reveal`` asks for a reference (``account_key_keyvault_secret_id``,
``password_keyvault_secret_id``...) only when a command needs its value, and
``credentials.keyvault.credentials_secret_id`` is read when the credentials load; both go through
:func:`fetch`, which :func:`install` puts in place for the CLI. Each id is fetched once per process,
with the credentials' ``keyvault`` AAD settings; the value is a secret from then on
(``shipyard.redact.remember``). A reference that cannot be fetched is one line naming its key.
"""

from __future__ import annotations

import threading
from typing import Any

from shipyard.config.vault_ids import parse_vault_id
from shipyard.errors import ShipyardError
from shipyard.redact import remember

_cache: dict[str, str] = {}
_lock = threading.Lock()


def fetch(reference: str, path: str, credentials: Any = None) -> str:
    """The value of the secret ``reference`` names (``path``: its key in the config, for errors)."""
    from shipyard.vault import open_vault

    secret_id = parse_vault_id(reference, path=path)
    key = str(secret_id)
    with _lock:
        if key in _cache:
            return _cache[key]
    try:
        found = open_vault(secret_id.vault_uri, credentials, path=path).get_secret(secret_id.name, secret_id.version)
    except ShipyardError as exc:
        exc.message = f"{path}: {exc.message}"
        exc.args = (exc.message,)
        raise
    value = found.value.get_secret_value()
    remember(value)
    with _lock:
        _cache[key] = value
    return value


def install() -> None:
    """Key Vault references are fetched through :func:`fetch` from now on (the CLI calls this at start)."""
    from shipyard.config.decrypt import use_vault

    use_vault(fetch)


def uninstall() -> None:
    """The end of a CLI invocation: no more fetching, and the values fetched are dropped."""
    from shipyard.config.decrypt import register_credentials, use_vault

    use_vault(None)
    register_credentials(None)
    with _lock:
        _cache.clear()
