"""The environment of ``additional_node_prep``'s commands: its ``environment_variables``, and those of
its ``environment_variables_keyvault_secret_id`` fetched on the node, never by the CLI.

The secret holds a JSON object of names to values (Batch Shipyard's form). On Azure node prep
fetches it as the pool's user-assigned identity (``pool_specification.managed_identity.client_id``,
:mod:`shipyard.node.keyvault`) and writes the variables as ``export`` lines into a file of mode
0600 (``node prep --environment-file``) that the start task sources, then removes, before the
commands run. The local backend hands the variables to the commands itself. A variable of the
secret wins over a plain one of the same name.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Optional

Fetch = Callable[[str, Optional[str]], str]  # (secret id, the identity's client id) -> the secret's value


def secrets_environment(secret_ids: Iterable[str], fetch: Fetch, client_id: Optional[str] = None) -> dict:
    """The variables of each secret (a JSON object of names to values), a later secret's winning."""
    from shipyard.node.keyvault import environment_from_secret

    env: dict = {}
    for secret_id in secret_ids:
        env.update(environment_from_secret(fetch(secret_id, client_id), secret_id))
    return env


def node_prep_environment(pool: Any, fetch: Optional[Fetch] = None) -> dict:
    """``pool``: pool.yaml's ``pool_specification`` (None: no variables). ``fetch`` reads a secret
    (default: Key Vault over HTTPS as the pool's identity)."""
    prep = getattr(pool, "additional_node_prep", None)
    if prep is None:
        return {}
    env = {str(k): "" if v is None else str(v) for k, v in (prep.environment_variables or {}).items()}
    secret_id = prep.environment_variables_keyvault_secret_id
    if secret_id:
        from shipyard.node.keyvault import fetch_secret

        identity = pool.managed_identity
        env.update(secrets_environment((secret_id,), fetch or fetch_secret, identity.client_id if identity else None))
    return env


def write_environment_file(path: Path, env: dict) -> Path:
    """``env`` as ``export NAME='value'`` lines in ``path``, mode 0600, for ``/bin/sh`` to source."""
    from shipyard.config.private_file import write_private

    for name in env:
        if not name.replace("_", "a").isalnum() or name[0].isdigit():
            from shipyard.errors import ShipyardError

            raise ShipyardError(f"'{name}' is not an environment variable name (letters, digits and _)")
    text = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    write_private(path, text.encode())
    return path
