"""The local vault: Key Vault's secrets and certificates on one machine, for the local backend.

``local://<name>`` lives in ``<shipyard home>/vaults/<name>/`` (mode 0700): one JSON file per
secret in ``secrets/`` and per certificate in ``certificates/``, each of mode 0600 and replaced in
one rename. A secret keeps its versions, as Key Vault does (``local://<name>/secrets/<s>/<version>``
names one, the bare id the newest). A certificate keeps its PFX and passphrase, so that the local
backend places it on a node as Azure placed a pool certificate (``pools.local.certs``).
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets as random
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from shipyard.config.paths import shipyard_home
from shipyard.config.private_file import private_dir, write_private
from shipyard.config.vault_ids import LOCAL_SCHEME, check_name
from shipyard.errors import VaultError, VaultObjectNotFound
from shipyard.vault.protocol import CertificateItem, Secret, SecretItem


def vaults_root(home: Path | str | None = None) -> Path:
    return shipyard_home(home) / "vaults"


class LocalVault:
    def __init__(self, name: str, home: Path | str | None = None) -> None:
        self.name = name
        self.uri = f"{LOCAL_SCHEME}://{name}"
        self.root = vaults_root(home) / name

    # -- files -----------------------------------------------------------------------------------

    def _file(self, collection: str, name: str) -> Path:
        return self.root / collection / f"{check_name(name)}.json"

    def _read(self, collection: str, name: str) -> dict[str, Any] | None:
        path = self._file(collection, name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise VaultError(f"{self.uri}: {path} cannot be read ({getattr(exc, 'strerror', None) or 'not JSON'})") \
                from None

    def _write(self, collection: str, name: str, record: dict[str, Any]) -> None:
        private_dir(self.root)
        private_dir(self.root / collection)
        write_private(self._file(collection, name), json.dumps(record, indent=1).encode())

    def _names(self, collection: str) -> list[str]:
        folder = self.root / collection
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    # -- secrets ---------------------------------------------------------------------------------

    def _item(self, name: str, version: dict[str, Any]) -> SecretItem:
        return SecretItem(id=f"{self.uri}/secrets/{name}/{version['version']}", name=name, version=version["version"],
                          tags=dict(version.get("tags") or {}), content_type=version.get("content_type"),
                          updated=datetime.datetime.fromisoformat(version["created"]))

    def set_secret(self, name: str, value: str, *, tags: dict[str, str] | None = None,
                   content_type: str | None = None) -> SecretItem:
        record = self._read("secrets", name) or {"versions": []}
        version = {"version": random.token_hex(16), "value": value, "tags": dict(tags or {}),
                   "content_type": content_type, "created": datetime.datetime.now(datetime.UTC).isoformat()}
        record["versions"].append(version)
        self._write("secrets", name, record)
        return self._item(name, version)

    def get_secret(self, name: str, version: str | None = None) -> Secret:
        record = self._read("secrets", name)
        versions = record["versions"] if record else []
        found = versions[-1] if versions and version is None else next(
            (v for v in versions if v["version"] == version), None)
        if found is None:
            what = f"secret '{name}'" + (f" version {version}" if version else "")
            raise VaultObjectNotFound(f"{self.uri} has no {what}", hint=f"`shipyard keyvault list` shows {self.uri}'s")
        return Secret(self._item(name, found), SecretStr(found["value"]))

    def delete_secret(self, name: str) -> None:
        self._delete("secrets", name, "secret")

    def list_secrets(self) -> list[SecretItem]:
        items = []
        for name in self._names("secrets"):
            record = self._read("secrets", name)
            if record and record["versions"]:
                items.append(self._item(name, record["versions"][-1]))
        return items

    def _delete(self, collection: str, name: str, what: str) -> None:
        try:
            self._file(collection, name).unlink()
        except FileNotFoundError:
            raise VaultObjectNotFound(f"{self.uri} has no {what} '{name}'") from None

    # -- certificates ----------------------------------------------------------------------------

    def _certificate(self, name: str, record: dict[str, Any]) -> CertificateItem:
        return CertificateItem(id=f"{self.uri}/certificates/{name}/{record['version']}", name=name,
                               thumbprint=record["thumbprint"], secret_id=f"{self.uri}/secrets/{name}",
                               subject=record.get("subject"),
                               expires=datetime.datetime.fromisoformat(record["expires"]))

    def import_certificate(self, name: str, pfx: bytes, password: str | None) -> CertificateItem:
        from shipyard.config.certificate import pfx_info

        info = pfx_info(pfx, password)
        record = {"version": random.token_hex(16), "thumbprint": info.sha1_thumbprint, "subject": info.subject,
                  "expires": info.expires.isoformat(), "pfx": base64.b64encode(pfx).decode(), "password": password}
        self._write("certificates", name, record)
        return self._certificate(name, record)

    def list_certificates(self) -> list[CertificateItem]:
        found = ((name, self._read("certificates", name)) for name in self._names("certificates"))
        return [self._certificate(name, record) for name, record in found if record]

    def delete_certificate(self, name: str) -> None:
        self._delete("certificates", name, "certificate")

    def certificate_pfx(self, name: str) -> tuple[bytes, str | None]:
        """The PFX and its passphrase, as imported (for a local node's certificate directory)."""
        record = self._read("certificates", name)
        if record is None:
            raise VaultObjectNotFound(f"{self.uri} has no certificate '{name}'")
        return base64.b64decode(record["pfx"]), record.get("password")
