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
    from cryptography.hazmat.primitives.serialization import pkcs12

    stem = f"sha1-{thumbprint.lower()}"
    pfx = directory / f"{stem}.pfx"
    try:
        data = pfx.read_bytes()
    except OSError:
        raise ShipyardError(f"the pool certificate {pfx} is not on this node") from None
    password_file = directory / f"{stem}.pfx.pw"
    password = password_file.read_bytes().strip() if password_file.exists() else None
    try:
        key, _, _ = pkcs12.load_key_and_certificates(data, password or None)
    except ValueError:
        raise ShipyardError(f"cannot open the pool certificate {pfx}: wrong password or not a PFX") from None
    if key is None:
        raise ShipyardError(f"the pool certificate {pfx} holds no private key")
    return key


def decrypt_secret(ciphertext: str, key: Any) -> str:
    """One encrypted config value, decrypted: shipyard's format or Batch Shipyard's
    (``shipyard.config.encryption``). The message of a failure never holds the value."""
    from shipyard.config.encryption import DecryptionError, decrypt

    try:
        return decrypt(ciphertext, key)
    except DecryptionError:
        raise ShipyardError("an encrypted credential does not decrypt with the pool certificate") from None
