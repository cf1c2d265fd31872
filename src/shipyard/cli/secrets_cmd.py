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
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError

PFX_PASSWORD_ENV = "SHIPYARD_PFX_PASSWORD"


@click.group("cert")
@global_options
def cert_group() -> None:
    """The credential-encryption certificate: create."""


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
