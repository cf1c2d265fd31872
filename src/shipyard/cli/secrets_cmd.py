"""``shipyard cert create`` and ``shipyard encrypt``: Batch Shipyard's credential encryption.

``cert create`` makes the key pair and its certificate (``config.certificate``) and records them in
``config.yaml``'s ``batch_shipyard.encryption`` (Batch Shipyard's shape: ``enabled``,
``pfx.filename``, ``pfx.passphrase``, ``pfx.sha1_thumbprint``, ``public_key_pem``), comments kept.
``encrypt`` encrypts one value (printed) or, with ``--file --in-place``, every secret field of a
credentials file, with the certificate ``config.yaml`` names (or ``--public-key``).
"""

from __future__ import annotations

import secrets as random_secrets
import sys
from pathlib import Path
from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.vault_session import delete_confirmed, keyvault_uri_option, open_session
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError

PFX_PASSWORD_ENV = "SHIPYARD_PFX_PASSWORD"


@click.group("cert")
@global_options
def cert_group() -> None:
    """Certificates: create the credential-encryption one; add, list and delete them in the vault."""


@cert_group.command("create")
@click.option("--file-prefix", default="shipyard-encryption", show_default=True, metavar="PATH",
              help="Where the files go: PATH.pfx (the private key, mode 0600) and PATH.pem (the certificate).")
@click.option("--pfx-password", envvar=PFX_PASSWORD_ENV, metavar="PASSWORD",
              help=f"The PFX's passphrase [${PFX_PASSWORD_ENV}; default: a random one, kept in config.yaml].")
@global_options
@pass_settings
def create(settings: Settings, file_prefix: str, pfx_password: str | None) -> int:
    """Create the key pair and certificate that encrypt credentials, and record it in config.yaml.

    The PFX (key and certificate, for the nodes) is written with mode 0600, the certificate PEM
    (for encrypting) beside it. config.yaml's batch_shipyard.encryption is set to them (enabled,
    the PFX's file, passphrase and SHA-1 thumbprint, the PEM), its comments kept. Without a
    config.yaml, give --pfx-password: the passphrase is then yours to keep.
    """
    from shipyard.config.certificate import create_certificate, record_encryption

    config_path = settings.config_paths().files.get(ConfigKind.CONFIG)
    if config_path is None and not pfx_password:
        raise UsageError("no config.yaml to record the certificate in: pass --pfx-password (and keep it), "
                         "or --configdir DIR with a config.yaml")
    passphrase = pfx_password or random_secrets.token_urlsafe(24)
    made = create_certificate(Path(file_prefix).expanduser().resolve(), passphrase)
    if config_path is not None:
        record_encryption(config_path, made.pfx, passphrase, made.sha1_thumbprint, made.public_pem)
    data = {"pfx": str(made.pfx), "public_key_pem": str(made.public_pem), "sha1_thumbprint": made.sha1_thumbprint,
            "config": str(config_path) if config_path else None}
    if settings.raw:
        render.emit_json(data)
        return 0
    render.line(f"wrote {made.pfx} (the private key: mode 0600) and {made.public_pem}")
    render.line(f"sha1 thumbprint: {made.sha1_thumbprint}")
    if config_path is not None:
        render.line(f"{config_path}: batch_shipyard.encryption enabled with them")
    return 0


def _public_key(settings: Settings, public_key: str | None) -> tuple[Any, int]:
    """The public key to encrypt with (--public-key, else config.yaml's public_key_pem), and its size."""
    from shipyard.config.certificate import load_public_key

    if public_key is None:
        from shipyard.cli.checks import load_config

        config = load_config(settings)
        general = config.general if config else None
        encryption = general.batch_shipyard.encryption if general else None
        public_key = encryption.public_key_pem if encryption else None
        if not public_key:
            raise UsageError("no certificate to encrypt with: run `shipyard cert create --configdir DIR`, "
                             "or pass --public-key PEM")
    key = load_public_key(Path(public_key).expanduser())
    return key, key.key_size


@click.command("encrypt")
@click.argument("value", required=False)
@click.option("--file", "file", type=click.Path(path_type=Path), help="A credentials file to encrypt instead.")
@click.option("--in-place", is_flag=True, help="With --file: rewrite it, every secret field encrypted.")
@click.option("--legacy", is_flag=True, help="Batch Shipyard's own format (PKCS#1 v1.5), for a config both tools read.")
@click.option("--public-key", metavar="PEM", help="The certificate to encrypt with [default: config.yaml's].")
@global_options
@pass_settings
def encrypt_command(settings: Settings, value: str | None, file: Path | None, in_place: bool, legacy: bool,
                    public_key: str | None) -> int:
    """Encrypt VALUE (printed, to paste into credentials.yaml), or with --file F --in-place every
    secret field of the credentials file F (account keys, AAD secrets, passwords), comments kept.

    The default format is shipyard's (RSA-OAEP-SHA256 wrapping an AES-256-GCM key: any length);
    --legacy writes Batch Shipyard's. VALUE may be - to read it from stdin (nothing on the command line).
    """
    from shipyard.config.encryption import encrypt

    if (value is None) == (file is None):
        raise UsageError("give a VALUE, or --file FILE --in-place")
    if file is not None and not in_place:
        raise UsageError("--file rewrites the file: pass --in-place to confirm")
    key, bits = _public_key(settings, public_key)
    if file is not None:
        from shipyard.config.encrypt_file import encrypt_credentials_file
        from shipyard.config.encryption import looks_legacy

        done = encrypt_credentials_file(file, key, legacy=legacy, already=lambda v: looks_legacy(v, bits))
        if settings.raw:
            render.emit_json({"file": str(done.path), "encrypted": list(done.fields)})
        else:
            render.line(f"{done.path}: {len(done.fields)} field(s) encrypted: {', '.join(done.fields)}")
        return 0
    assert value is not None
    text = sys.stdin.read().rstrip("\n") if value == "-" else value
    if not text:
        raise UsageError("nothing to encrypt: the value is empty")
    out = encrypt(text, key, legacy=legacy)
    if settings.raw:
        render.emit_json({"encrypted": out})
    else:
        render.line(out)
    return 0


# -- the vault's certificates ------------------------------------------------------------------


def _encryption_pfx(settings: Settings) -> tuple[Path, str | None]:
    """config.yaml's batch_shipyard.encryption PFX (its path beside config.yaml) and passphrase."""
    from shipyard.cli.checks import load_config
    from shipyard.config.certificate import pfx_path

    config = load_config(settings)
    general = config.general if config else None
    encryption = general.batch_shipyard.encryption if general else None
    if encryption is None or encryption.pfx is None:
        raise UsageError("no PFX to add: pass --file PFX, or --configdir DIR with config.yaml's "
                         "batch_shipyard.encryption (`shipyard cert create`)")
    where = settings.config_paths().files.get(ConfigKind.CONFIG)
    pfx = pfx_path(encryption.pfx.filename, where.parent if where is not None else None)
    return pfx, encryption.pfx.passphrase.get_secret_value() if encryption.pfx.passphrase else None


def _certificate_row(item: Any) -> dict[str, Any]:
    return {"name": item.name, "sha1_thumbprint": item.thumbprint, "id": item.id, "secret_id": item.secret_id,
            "expires": item.expires.isoformat() if item.expires else None}


@cert_group.command("add")
@click.option("--file", "file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The PFX to add [default: config.yaml's batch_shipyard.encryption.pfx].")
@click.option("--pfx-password", envvar=PFX_PASSWORD_ENV, metavar="PASSWORD",
              help=f"The PFX's passphrase [${PFX_PASSWORD_ENV}; default: config.yaml's, for its PFX].")
@click.option("--name", metavar="NAME", help="Its name in the vault [default: sha1-<thumbprint>].")
@keyvault_uri_option
@global_options
@pass_settings
def add(settings: Settings, file: Path | None, pfx_password: str | None, name: str | None,
        keyvault_uri: str | None) -> int:
    """Put a certificate (key and certificate, a PFX) into the vault, for the pools that name it.

    A pool gets it on its nodes when pool.yaml's certificates name it (sha1$<thumbprint>), or when
    it is config.yaml's encryption certificate: Azure pools through the Key Vault VM extension, local
    pools in each node's certificate directory.
    """
    from shipyard.config.certificate import pfx_info
    from shipyard.config.vault_ids import check_name

    pfx, passphrase = (file, pfx_password) if file is not None else _encryption_pfx(settings)
    passphrase = pfx_password or passphrase
    try:
        data = pfx.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {pfx}: {exc.strerror}") from None
    info = pfx_info(data, passphrase, name=str(pfx))
    name = check_name(name or f"sha1-{info.sha1_thumbprint}", what="certificate name")
    session = open_session(settings, keyvault_uri)
    item = session.vault.import_certificate(name, data, passphrase)
    if settings.raw:
        render.emit_json(_certificate_row(item))
    else:
        render.line(f"added certificate '{name}' (sha1 {item.thumbprint}) to {session.vault.uri}")
    return 0


@cert_group.command("list")
@keyvault_uri_option
@global_options
@pass_settings
def list_certificates(settings: Settings, keyvault_uri: str | None) -> int:
    """The vault's certificates: name, SHA-1 thumbprint, expiry."""
    session = open_session(settings, keyvault_uri)
    rows = [_certificate_row(c) for c in session.vault.list_certificates()]
    if settings.raw:
        render.emit_json(rows)
        return 0
    render.table(None, ["name", "sha1 thumbprint", "expires"], [(r["name"], r["sha1_thumbprint"], r["expires"] or "")
                                                                for r in rows])
    return 0


@cert_group.command("del")
@click.argument("certificate")
@keyvault_uri_option
@global_options
@pass_settings
def delete(settings: Settings, certificate: str, keyvault_uri: str | None) -> int:
    """Delete CERTIFICATE (its name, or sha1$<thumbprint>) from the vault."""
    from shipyard.errors import VaultObjectNotFound
    from shipyard.vault.protocol import find_certificate

    session = open_session(settings, keyvault_uri)
    name = certificate
    if certificate.lower().startswith("sha1$"):
        found = find_certificate(session.vault, certificate[5:])
        if found is None:
            raise VaultObjectNotFound(f"{session.vault.uri} has no certificate with thumbprint {certificate[5:]}")
        name = found.name
    return delete_confirmed(settings, session, "certificate", name, session.vault.delete_certificate)
