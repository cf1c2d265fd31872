"""A pool's certificates, found in its vault before allocation (``pool.certificates``).

The certificates a pool's nodes get: each key of ``pool_specification.certificates``
(``sha1$<thumbprint>`` as Batch Shipyard wrote it, ``sha1-<thumbprint>``, a bare thumbprint, or the
certificate's name in the vault) and, on Azure, ``config.yaml``'s encryption certificate (the
nodes decrypt the credentials with it). They are looked up in ``credentials.keyvault.uri`` (Azure
Key Vault, or the local vault), once, before anything is allocated: a missing one fails admission
with the ``shipyard cert add`` that puts it there. On Azure they reach the nodes through the Key
Vault VM extension, which reads the vault as the pool's user-assigned identity: a pool with
certificates and no ``managed_identity`` fails admission too.
"""

from __future__ import annotations

import re

from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import ShipyardError
from shipyard.pools.models import PoolCertificate
from shipyard.results import CheckResult, Location, Severity, Status

CHECK = "pool.certificates"
_THUMBPRINT = re.compile(r"^(?:sha1[$-])?([0-9a-fA-F]{40})$")
ADD_FIX = "put it in the vault with `shipyard cert add --file PFX` (or `shipyard cert add` for config.yaml's)"


def thumbprint_of(key: str) -> str | None:
    match = _THUMBPRINT.match(key.replace(":", ""))
    return match.group(1).lower() if match else None


def wanted(config: ConfigSet, backend: str) -> list[tuple[str, Location]]:
    """(key, where it is written) of every certificate the pool's nodes need."""
    pool = config.pool
    found: list[tuple[str, Location]] = []
    loaded = config.files.get(ConfigKind.POOL)
    for key in (pool.certificates or {}) if pool else ():
        where = loaded.location(("pool_specification", "certificates", key)) if loaded else Location()
        found.append((key, where))
    general = config.general
    encryption = general.batch_shipyard.encryption if general else None
    if backend == "azure" and encryption is not None and encryption.enabled and encryption.pfx is not None \
            and encryption.pfx.sha1_thumbprint:
        thumbprint = encryption.pfx.sha1_thumbprint.lower()
        if all(thumbprint_of(k) != thumbprint for k, _ in found):
            config_file = config.files.get(ConfigKind.CONFIG)
            where = config_file.location(("batch_shipyard", "encryption", "pfx", "sha1_thumbprint")) \
                if config_file else Location()
            found.append((f"sha1${thumbprint}", where))
    return found


def find_certificates(config: ConfigSet, backend: str) -> tuple[tuple[PoolCertificate, ...], list[CheckResult]]:
    """The pool's certificates as the vault has them, and the admission results that say so."""
    keys = wanted(config, backend)
    if not keys:
        return (), []
    credentials = config.credentials
    uri = credentials.keyvault.uri if credentials and credentials.keyvault else None
    results: list[CheckResult] = []
    pool = config.pool
    if backend == "azure" and pool is not None and pool.managed_identity is None:
        loaded = config.files.get(ConfigKind.POOL)
        results.append(CheckResult.of(
            CHECK, Status.FAIL, Severity.ERROR,
            "the pool's certificates reach Azure nodes through the Key Vault VM extension, which reads the vault as "
            "the pool's user-assigned identity: the pool has none",
            "set pool_specification.managed_identity (resource_id, client_id) to an identity with 'Key Vault "
            "Secrets User' on the vault", loaded.location(("pool_specification",)) if loaded else None))
    if not uri:
        return (), [*results, CheckResult.of(CHECK, Status.FAIL, Severity.ERROR,
                                             f"{len(keys)} certificate(s) to find, and no vault to find them in",
                                             "set credentials.keyvault.uri (https://<vault>.vault.azure.net, or "
                                             "local://<name>)", keys[0][1])]
    from shipyard.vault import open_vault

    try:
        present = open_vault(uri, credentials).list_certificates()
    except ShipyardError as exc:
        return (), [*results, CheckResult.of(CHECK, Status.FAIL, Severity.ERROR,
                                             f"the certificates could not be looked up: {exc.message}",
                                             exc.hint or "", keys[0][1])]
    found: list[PoolCertificate] = []
    for key, where in keys:
        thumbprint = thumbprint_of(key)
        match = next((c for c in present if (c.thumbprint == thumbprint if thumbprint else c.name == key)), None)
        if match is None:
            results.append(CheckResult.of(CHECK, Status.FAIL, Severity.ERROR,
                                          f"certificate {key} is not in {uri}", ADD_FIX, where))
            continue
        found.append(PoolCertificate(key, match.thumbprint, match.name, match.secret_id, uri))
        results.append(CheckResult.of(CHECK, Status.PASS, Severity.ERROR,
                                      f"certificate {key} is in {uri} as '{match.name}'", ADD_FIX, where))
    return tuple(found), results
