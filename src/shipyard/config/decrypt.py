"""The one place the CLI reveals a secret of ``credentials.yaml``: decrypted first when it is encrypted.

Loading the config files never decrypts (``config check`` and everything that only forwards a value
to the nodes needs no plaintext): :func:`register` records ``config.yaml``'s
``batch_shipyard.encryption``, and :func:`reveal` decrypts a value when a command uses it (a storage
key for ``image upload``), with the private key of ``pfx.filename`` (relative to ``config.yaml``)
and ``pfx.passphrase``, loaded on first use. Without that key it refuses in one line, naming what is
missing. A value is encrypted when it is in shipyard's format (``sy1:``), or, with encryption
enabled, when it is the base64 of exactly one RSA block (Batch Shipyard's format).

A Key Vault reference (``account_key_keyvault_secret_id``...) is revealed the same way, when the
value itself is not given: fetched then, through the vault fetcher the CLI installs
(:func:`use_vault`; ``shipyard.vault.resolve``), with the credentials' ``keyvault`` settings. This
layer never reaches a vault itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config.encryption import decrypt, is_encrypted, looks_legacy
from shipyard.errors import ShipyardError
from shipyard.redact import remember

if TYPE_CHECKING:
    from pydantic import SecretStr


@dataclass
class _Ring:
    enabled: bool = False
    pfx: Path | None = None
    passphrase: str | None = None
    key: Any = None


# (reference, key path for errors, the credentials) -> the secret's value
VaultFetcher = Callable[[str, str, Any], str]

_ring = _Ring()
_lock = threading.Lock()
_vault: dict[str, Any] = {"fetch": None, "credentials": None}


def use_vault(fetch: VaultFetcher | None) -> None:
    """Install what fetches a Key Vault reference (None: references cannot be revealed here)."""
    _vault["fetch"] = fetch


def can_fetch() -> bool:
    """Whether a Key Vault reference can be fetched here (the CLI installed a fetcher)."""
    return _vault["fetch"] is not None


def register_credentials(credentials: Any) -> None:
    """The credentials just loaded: their ``keyvault`` section says how to reach the vault."""
    _vault["credentials"] = credentials


def fetch_reference(reference: str, path: str) -> str:
    """The value of the Key Vault secret ``reference`` (``path``: its key, for errors)."""
    fetch = _vault["fetch"]
    if fetch is None:
        from shipyard.errors import ConfigError

        raise ConfigError("a Key Vault reference cannot be fetched here", path=path,
                          hint="run the command through the shipyard CLI, which reaches the vault")
    return fetch(reference, path, _vault["credentials"])  # type: ignore[no-any-return]


def register(encryption: Any, config_dir: Path | None) -> None:
    """``batch_shipyard.encryption`` of the config just loaded (None: encryption off)."""
    global _ring
    with _lock:
        if encryption is None or not encryption.enabled:
            _ring = _Ring()
            return
        from shipyard.config.certificate import pfx_path

        pfx = pfx_path(encryption.pfx.filename, config_dir) if encryption.pfx else None
        passphrase = encryption.pfx.passphrase.get_secret_value() if encryption.pfx else None
        _ring = _Ring(True, pfx, passphrase)


def looks_encrypted(value: str) -> bool:
    if is_encrypted(value):
        return True
    return _ring.enabled and looks_legacy(value)


def _key() -> Any:
    from shipyard.config.certificate import load_private_key

    with _lock:
        if _ring.key is None:
            if not _ring.enabled or _ring.pfx is None:
                raise ShipyardError("a credential is encrypted, but config.yaml has no batch_shipyard.encryption.pfx "
                                    "to decrypt it with", hint="run the command with the config.yaml that encrypted it")
            if not _ring.pfx.exists():
                raise ShipyardError(f"a credential is encrypted, and its private key {_ring.pfx} is not on this "
                                    "machine (batch_shipyard.encryption.pfx.filename)",
                                    hint="copy the PFX here, or run the command where it is")
            _ring.key = load_private_key(_ring.pfx, _ring.passphrase)
        return _ring.key


def reveal(secret: SecretStr | None, reference: str | None = None, *, path: str = "keyvault_secret_id") -> str | None:
    """The plain value of ``secret`` (decrypted when encrypted), else of the Key Vault secret
    ``reference`` (``path`` names its key in errors); None when neither is given."""
    if (secret is None or not secret.get_secret_value()) and reference:
        value = fetch_reference(reference, path)
    elif secret is None:
        return None
    else:
        value = secret.get_secret_value()
    if not value or not looks_encrypted(value):
        remember(value)
        return value
    plain = decrypt(value, _key())
    remember(plain)
    return plain
