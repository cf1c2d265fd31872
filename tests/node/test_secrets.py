"""Credentials encrypted for the pool certificate decrypt on the node with the PFX Batch installed."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from shipyard.errors import ShipyardError
from shipyard.node.secrets import decrypt_secret, load_certificate_key


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A self-signed certificate as Batch installs it: sha1-<thumbprint>.pfx and .pfx.pw."""
    key, cert = self_signed("shipyard-test")
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    directory = tmp_path_factory.mktemp("certs")
    password = b"pfx-password"
    pfx = pkcs12.serialize_key_and_certificates(b"shipyard", key, cert, None,
                                                serialization.BestAvailableEncryption(password))
    (directory / f"sha1-{thumbprint}.pfx").write_bytes(pfx)
    (directory / f"sha1-{thumbprint}.pfx.pw").write_bytes(password + b"\n")
    pem = directory / "public.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return directory, thumbprint, pem


def test_decrypts_a_value_encrypted_like_batch_shipyard(certificate) -> None:
    directory, thumbprint, pem = certificate
    # Batch Shipyard encrypted with `openssl rsautl -encrypt -pubin -inkey pem` (PKCS#1 v1.5)
    done = subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(pem)],
                          input=b"StorageAccountKey==", capture_output=True, check=True)
    ciphertext = base64.b64encode(done.stdout).decode()
    key = load_certificate_key(thumbprint.upper(), directory)
    assert decrypt_secret(ciphertext, key) == "StorageAccountKey=="


def test_decrypts_shipyards_own_format_of_any_length(certificate) -> None:
    from shipyard.config.encryption import encrypt

    directory, thumbprint, pem = certificate
    public = serialization.load_pem_public_key(pem.read_bytes())
    sas = "sv=2025-01-05&sig=" + "s" * 600  # longer than one RSA block
    key = load_certificate_key(thumbprint, directory)
    assert decrypt_secret(encrypt(sas, public), key) == sas


def test_failures_are_one_line_and_leak_nothing(certificate) -> None:
    directory, thumbprint, _pem = certificate
    key = load_certificate_key(thumbprint, directory)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = base64.b64encode(other.public_key().encrypt(b"secret", padding.PKCS1v15())).decode()
    with pytest.raises(ShipyardError, match="does not decrypt") as info:
        decrypt_secret(wrong, key)
    assert wrong not in str(info.value)
    with pytest.raises(ShipyardError, match="does not decrypt"):
        decrypt_secret("not base64!", key)
    with pytest.raises(ShipyardError, match="is not on this node"):
        load_certificate_key("00" * 20, directory)


def test_node_prep_decrypts_the_storage_key_when_encryption_is_enabled(
    certificate, write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.node.setup import storage_key
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths

    directory, thumbprint, pem = certificate
    public = serialization.load_pem_public_key(pem.read_bytes())
    ciphertext = base64.b64encode(public.encrypt(b"PlainKey==", padding.PKCS1v15())).decode()
    configdir = write_config(
        config=f"""
        batch_shipyard:
          storage_account_settings: sa1
          encryption:
            enabled: true
            pfx: {{filename: cert.pfx, passphrase: x, sha1_thumbprint: {thumbprint}}}
        """,
        credentials=f"credentials:\n  storage:\n    sa1: {{account: acct1, account_key: '{ciphertext}'}}\n",
    )
    monkeypatch.setenv("AZ_BATCH_CERTIFICATES_DIR", str(directory))
    config = load_config_set(ConfigPaths.resolve(configdir))
    assert storage_key(config, "sa1") == "PlainKey=="


@pytest.mark.parametrize("key_first", [True, False])
def test_the_key_vault_extensions_pem_is_found_by_thumbprint(tmp_path: Path, key_first: bool) -> None:
    """KeyVaultForLinux writes ``<vault>.<certificate>`` (key and chain, PEM) into its root-only store."""
    key, cert = self_signed("kv-extension")
    thumbprint = cert.fingerprint(hashes.SHA1()).hex()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    store = tmp_path / "Microsoft.Azure.KeyVault.Store"
    store.mkdir()
    (store / "kv1.other").write_bytes(b"not a certificate")
    (store / "kv1.enc").write_bytes(key_pem + cert_pem if key_first else cert_pem + key_pem)
    found = load_certificate_key(thumbprint, tmp_path / "no-batch-certs", store)
    message = b"only the pool's key opens this"
    sealed = key.public_key().encrypt(message, padding.PKCS1v15())
    assert found.decrypt(sealed, padding.PKCS1v15()) == message
    with pytest.raises(ShipyardError, match="is not on this node"):
        load_certificate_key("0" * 40, tmp_path / "no-batch-certs", store)
    (store / "kv1.enc").write_bytes(cert_pem)  # the certificate without its key
    with pytest.raises(ShipyardError, match="no readable private key"):
        load_certificate_key(thumbprint, tmp_path / "no-batch-certs", store)
