"""Decrypt credentials that Batch Shipyard encrypted for the nodes (``batch_shipyard.encryption``).

A value was encrypted with the public key of the pool's certificate: in shipyard's format
(``sy1:``, RSA-OAEP wrapping an AES-GCM key) or Batch Shipyard's (RSA PKCS#1 v1.5, as
``openssl rsautl -encrypt``, base64); ``shipyard.config.encryption`` reads both. On the node, the certificate's private key is
the PFX that Batch installed as ``$AZ_BATCH_CERTIFICATES_DIR/sha1-<thumbprint>.pfx`` with its
password in ``….pfx.pw``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError


def certificates_dir() -> Path:
    return Path(os.environ.get("AZ_BATCH_CERTIFICATES_DIR", "/var/lib/shipyard/certs"))


def load_certificate_key(thumbprint: str, directory: Path) -> Any:
    """The private key of the PFX that Batch installed for ``thumbprint``."""
    from shipyard.config.certificate import load_private_key

    stem = f"sha1-{thumbprint.lower()}"
    pfx = directory / f"{stem}.pfx"
    if not pfx.is_file():
        raise ShipyardError(f"the pool certificate {pfx} is not on this node")
    password_file = directory / f"{stem}.pfx.pw"
    password = password_file.read_text().strip() if password_file.exists() else None
    return load_private_key(pfx, password or None)


def decrypt_secret(ciphertext: str, key: Any) -> str:
    """One encrypted config value, decrypted: shipyard's format or Batch Shipyard's
    (``shipyard.config.encryption``). The message of a failure never holds the value."""
    from shipyard.config.encryption import DecryptionError, decrypt

    try:
        return decrypt(ciphertext, key)
    except DecryptionError:
        raise ShipyardError("an encrypted credential does not decrypt with the pool certificate") from None
