"""The local backend's certificate store: the pool's credential-encryption PFX on every node, where
Azure puts a pool certificate (``$AZ_BATCH_CERTIFICATES_DIR/sha1-<thumbprint>.pfx``, its passphrase
in ``….pfx.pw``), so that node prep decrypts the credentials as it does on Azure. Both files are
mode 0600 in the node's own ``certs/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.config.loader import ConfigSet
from shipyard.config.kinds import ConfigKind
from shipyard.errors import ShipyardError


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def install_certificate(config: ConfigSet | None, certs: Path) -> Path | None:
    """The PFX of ``config.yaml``'s ``batch_shipyard.encryption`` into ``certs``; None when encryption is off."""
    general = config.general if config else None
    encryption = general.batch_shipyard.encryption if general else None
    if config is None or encryption is None or not encryption.enabled or encryption.pfx is None:
        return None
    pfx = encryption.pfx
    if not pfx.sha1_thumbprint:
        raise ShipyardError("encryption is enabled but batch_shipyard.encryption.pfx.sha1_thumbprint is not set")
    source = Path(pfx.filename).expanduser()
    where = config.files.get(ConfigKind.CONFIG)
    if not source.is_absolute() and where is not None:
        source = Path(where.document.path).parent / source
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ShipyardError(f"the pool certificate {source} cannot be read: {exc.strerror}") from None
    certs.mkdir(parents=True, exist_ok=True)
    target = certs / f"sha1-{pfx.sha1_thumbprint.lower()}.pfx"
    _write(target, data)
    _write(target.with_name(target.name + ".pw"), pfx.passphrase.get_secret_value().encode())
    return target
