"""The local backend's certificate store: the pool's certificates on every node, where Azure put a
pool certificate (``$AZ_BATCH_CERTIFICATES_DIR/sha1-<thumbprint>.pfx``, its passphrase in
``….pfx.pw``), so that node prep finds them as it does on Azure: the credential-encryption PFX of
``config.yaml``, and each certificate of ``pool_specification.certificates`` from the local vault
(found there by admission). Both files are mode 0600 in the node's own ``certs/``.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.config.certificate import pfx_path
from shipyard.config.loader import ConfigSet
from shipyard.config.kinds import ConfigKind
from shipyard.config.private_file import write_private
from shipyard.errors import ShipyardError
from shipyard.pools.models import PoolCertificate


def _place(certs: Path, thumbprint: str, pfx: bytes, passphrase: str | None) -> Path:
    certs.mkdir(parents=True, exist_ok=True)
    target = certs / f"sha1-{thumbprint.lower()}.pfx"
    write_private(target, pfx)
    write_private(target.with_name(target.name + ".pw"), (passphrase or "").encode())
    return target


def install_pool_certificates(certificates: tuple[PoolCertificate, ...], certs: Path) -> list[Path]:
    """The pool's certificates from the local vault into ``certs`` (an Azure vault's never reach a local node)."""
    from shipyard.vault.local import LocalVault

    placed = []
    for certificate in certificates:
        if not certificate.vault_uri.startswith("local://"):
            raise ShipyardError(f"certificate {certificate.key} is in {certificate.vault_uri}: a local pool takes its "
                                "certificates from a local vault", hint="set credentials.keyvault.uri to local://NAME "
                                                                       "and `shipyard cert add` them there")
        pfx, passphrase = LocalVault(certificate.vault_uri.removeprefix("local://")).certificate_pfx(certificate.name)
        placed.append(_place(certs, certificate.thumbprint, pfx, passphrase))
    return placed


def install_certificate(config: ConfigSet | None, certs: Path) -> Path | None:
    """The PFX of ``config.yaml``'s ``batch_shipyard.encryption`` into ``certs``; None when encryption is off."""
    general = config.general if config else None
    encryption = general.batch_shipyard.encryption if general else None
    if config is None or encryption is None or not encryption.enabled or encryption.pfx is None:
        return None
    pfx = encryption.pfx
    if not pfx.sha1_thumbprint:
        raise ShipyardError("encryption is enabled but batch_shipyard.encryption.pfx.sha1_thumbprint is not set")
    where = config.files.get(ConfigKind.CONFIG)
    source = pfx_path(pfx.filename, Path(where.document.path).parent if where is not None else None)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ShipyardError(f"the pool certificate {source} cannot be read: {exc.strerror}") from None
    return _place(certs, pfx.sha1_thumbprint, data, pfx.passphrase.get_secret_value())
