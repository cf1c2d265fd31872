"""The credential-encryption certificate: made here, as ``shipyard cert create`` makes it, and read.

- an RSA key of 4096 bits (never under 3072) and a self-signed X.509 certificate for it;
- ``PREFIX.pfx``: key and certificate in PKCS#12, protected by the passphrase, for the nodes
  (mode 0600: it holds the private key);
- ``PREFIX.pem``: the certificate, public, for encrypting values;
- the certificate's SHA-1 thumbprint, as Batch Shipyard names it (``batch_shipyard.encryption.pfx``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.config.private_file import write_private
from shipyard.errors import ShipyardError, UsageError

KEY_BITS = 4096
MIN_KEY_BITS = 3072
VALID_DAYS = 3650


@dataclass(frozen=True)
class CertificateFiles:
    pfx: Path
    public_pem: Path
    sha1_thumbprint: str
    passphrase: str = field(repr=False)


def create_certificate(prefix: Path, passphrase: str, *, key_bits: int = KEY_BITS,
                       common_name: str = "shipyard credential encryption") -> CertificateFiles:
    """The key pair and its certificate as ``PREFIX.pfx`` and ``PREFIX.pem``; existing files are refused."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    if key_bits < MIN_KEY_BITS:
        raise UsageError(f"an RSA key of {key_bits} bits is too small: at least {MIN_KEY_BITS}")
    if not passphrase:
        raise UsageError("the PFX needs a passphrase")
    pfx, pem = prefix.with_name(prefix.name + ".pfx"), prefix.with_name(prefix.name + ".pem")
    for path in (pfx, pem):
        if path.exists():
            raise UsageError(f"{path} exists: choose another --file-prefix, or remove it")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=True,
                                         data_encipherment=True, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    thumbprint = cert.fingerprint(hashes.SHA1()).hex()  # Batch Shipyard's (and Azure's) thumbprint
    try:
        write_private(pfx, pkcs12.serialize_key_and_certificates(
            b"shipyard", key, cert, None, serialization.BestAvailableEncryption(passphrase.encode())), exclusive=True)
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        for path in (pfx, pem):
            path.unlink(missing_ok=True)
        raise ShipyardError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return CertificateFiles(pfx, pem, thumbprint, passphrase)


def pfx_path(filename: str, config_dir: Path | None) -> Path:
    """``batch_shipyard.encryption.pfx.filename`` as a path: ``~`` expanded, relative to config.yaml's directory."""
    path = Path(filename).expanduser()
    return config_dir / path if config_dir is not None and not path.is_absolute() else path


def load_public_key(pem: Path) -> Any:
    """The RSA public key of a certificate or public-key PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        data = pem.read_bytes()
    except OSError as exc:
        raise ShipyardError(f"cannot read {pem}: {exc.strerror}") from None
    try:
        if b"BEGIN CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return serialization.load_pem_public_key(data)
    except ValueError:
        raise ShipyardError(f"{pem} holds no PEM certificate or public key") from None


def load_private_key(pfx: Path, passphrase: str | None) -> Any:
    """The private key in a PFX file; one clean error for a wrong passphrase or another file."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        data = pfx.read_bytes()
    except OSError as exc:
        raise ShipyardError(f"cannot read {pfx}: {exc.strerror}") from None
    try:
        key, _, _ = pkcs12.load_key_and_certificates(data, passphrase.encode() if passphrase else None)
    except ValueError:
        raise ShipyardError(f"cannot open {pfx}: wrong passphrase, or not a PFX") from None
    if key is None:
        raise ShipyardError(f"{pfx} holds no private key")
    return key


@dataclass(frozen=True)
class PfxInfo:
    sha1_thumbprint: str
    subject: str
    expires: datetime.datetime


def pfx_info(data: bytes, passphrase: str | None, *, name: str = "the PFX") -> PfxInfo:
    """What a PFX holds: its certificate's thumbprint, subject and expiry; a clean error when it cannot
    be opened (wrong passphrase, not a PFX) or holds no key or certificate."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, passphrase.encode() if passphrase else None)
    except ValueError:
        raise ShipyardError(f"cannot open {name}: wrong passphrase, or not a PFX") from None
    if key is None or cert is None:
        raise ShipyardError(f"{name} needs both a private key and its certificate")
    return PfxInfo(cert.fingerprint(hashes.SHA1()).hex(), cert.subject.rfc4514_string(), cert.not_valid_after_utc)


def record_encryption(config_path: Path, pfx: Path, passphrase: str, thumbprint: str, pem: Path) -> None:
    """``config.yaml``'s ``batch_shipyard.encryption`` set to the certificate, its comments kept."""
    from ruamel.yaml.comments import CommentedMap

    from shipyard.config.yaml_edit import dump, replace_file, round_trip

    yaml, data = round_trip(config_path.read_text(encoding="utf-8"))
    section = data.setdefault("batch_shipyard", CommentedMap())
    section["encryption"] = CommentedMap([
        ("enabled", True),
        ("pfx", CommentedMap([("filename", str(pfx)), ("passphrase", passphrase), ("sha1_thumbprint", thumbprint)])),
        ("public_key_pem", str(pem)),
    ])
    replace_file(config_path, dump(yaml, data))
