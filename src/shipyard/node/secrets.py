"""Decrypt credentials that Batch Shipyard encrypted for the nodes (``batch_shipyard.encryption``).

A value was encrypted with the public key of the pool's certificate: in shipyard's format
(``sy1:``, RSA-OAEP wrapping an AES-GCM key) or Batch Shipyard's (RSA PKCS#1 v1.5, as
``openssl rsautl -encrypt``, base64); ``shipyard.config.encryption`` reads both. On the node, the certificate's private key is
where the pool put it:

- Azure today: the Key Vault VM extension (``KeyVaultForLinux``, authorised by the pool's
  user-assigned identity) writes each observed certificate, key and chain in PEM, into the
  root-only :data:`KEYVAULT_STORE` as ``<vault>.<certificate>``; it is found by its thumbprint;
- the local backend, and Batch's retired certificates: ``$AZ_BATCH_CERTIFICATES_DIR/sha1-<thumbprint>.pfx``
  with its password in ``….pfx.pw``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError


# where KeyVaultForLinux places certificates (root only): the pool's extension settings name it
KEYVAULT_STORE = Path("/var/lib/waagent/Microsoft.Azure.KeyVault.Store")


def certificates_dir() -> Path:
    return Path(os.environ.get("AZ_BATCH_CERTIFICATES_DIR", "/var/lib/shipyard/certs"))


def load_certificate_key(thumbprint: str, directory: Path, keyvault_store: Path = KEYVAULT_STORE) -> Any:
    """The private key of the pool certificate ``thumbprint``: the PFX in ``directory``, else the PEM
    the Key Vault VM extension placed in ``keyvault_store``."""
    from shipyard.config.certificate import load_private_key

    stem = f"sha1-{thumbprint.lower()}"
    pfx = directory / f"{stem}.pfx"
    if pfx.is_file():
        password_file = directory / f"{stem}.pfx.pw"
        password = password_file.read_text().strip() if password_file.exists() else None
        return load_private_key(pfx, password or None)
    key = _keyvault_store_key(thumbprint.lower(), keyvault_store)
    if key is None:
        raise ShipyardError(f"the pool certificate sha1 {thumbprint.lower()} is not on this node (neither {pfx} nor "
                            f"a certificate the Key Vault VM extension placed in {keyvault_store})")
    return key


def _keyvault_store_key(thumbprint: str, store: Path) -> Any:
    """The private key of the PEM file in ``store`` whose certificate has ``thumbprint``, or None."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        candidates = sorted(p for p in store.iterdir() if p.is_file())
    except OSError:
        return None
    for path in candidates:
        try:
            data = path.read_bytes()
            certificate = x509.load_pem_x509_certificate(data)  # the first certificate: the leaf
        except (OSError, ValueError):
            continue
        if certificate.fingerprint(hashes.SHA1()).hex() != thumbprint:
            continue
        try:
            return serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ShipyardError(f"{path} holds the pool certificate but no readable private key") from None
    return None


def decrypt_secret(ciphertext: str, key: Any) -> str:
    """One encrypted config value, decrypted: shipyard's format or Batch Shipyard's
    (``shipyard.config.encryption``). The message of a failure never holds the value."""
    from shipyard.config.encryption import DecryptionError, decrypt

    try:
        return decrypt(ciphertext, key)
    except DecryptionError:
        raise ShipyardError("an encrypted credential does not decrypt with the pool certificate") from None
