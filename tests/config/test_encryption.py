"""Encrypted config values: shipyard's hybrid format and Batch Shipyard's, both ways, against
OpenSSL itself for Batch Shipyard's (``openssl rsautl``, as Batch Shipyard calls it)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shipyard.config.encryption import PREFIX, DecryptionError, decrypt, encrypt, is_encrypted

SAS = "sv=2025-01-05&ss=b&srt=sco&sp=rwdlac&se=2027-01-01T00:00:00Z&sig=" + "A" * 400  # longer than one RSA block


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def test_the_hybrid_format_takes_any_length(key) -> None:
    text = encrypt(SAS, key.public_key())
    assert text.startswith(PREFIX) and is_encrypted(text) and SAS not in text
    assert decrypt(text, key) == SAS
    assert encrypt(SAS, key.public_key()) != text  # a fresh key and nonce each time


def test_batch_shipyards_format_round_trips_and_has_its_limit(key) -> None:
    text = encrypt("storage-account-key==", key.public_key(), legacy=True)
    assert not is_encrypted(text) and decrypt(text, key) == "storage-account-key=="
    with pytest.raises(Exception, match="does not fit Batch Shipyard's format"):
        encrypt(SAS, key.public_key(), legacy=True)


def test_tampering_or_the_wrong_key_fails_and_never_yields_garbage(key) -> None:
    text = encrypt("the-secret", key.public_key())
    raw = bytearray(base64.b64decode(text[len(PREFIX):]))
    for index in (0, 5, len(raw) - 20, len(raw) - 1):  # version, wrapped key, ciphertext, tag
        changed = bytearray(raw)
        changed[index] ^= 0x01
        with pytest.raises(DecryptionError) as caught:
            decrypt(PREFIX + base64.b64encode(bytes(changed)).decode(), key)
        assert "the-secret" not in str(caught.value)
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    for value in (text, encrypt("the-secret", key.public_key(), legacy=True)):
        with pytest.raises(DecryptionError):
            decrypt(value, other)
    for junk in ("sy1:not base64!", "sy1:", "%%%"):
        with pytest.raises(DecryptionError):
            decrypt(junk, key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_rsautl_both_ways(key, tmp_path: Path) -> None:
    public = tmp_path / "public.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    private = tmp_path / "private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    # Batch Shipyard encrypted with: openssl rsautl -encrypt -pubin -inkey PEM, then base64
    done = subprocess.run(["openssl", "rsautl", "-encrypt", "-pubin", "-inkey", str(public)],
                          input=b"from-batch-shipyard", capture_output=True, check=True)
    assert decrypt(base64.b64encode(done.stdout).decode(), key) == "from-batch-shipyard"
    # and what --legacy writes, openssl decrypts
    legacy = base64.b64decode(encrypt("for-batch-shipyard", key.public_key(), legacy=True))
    back = subprocess.run(["openssl", "rsautl", "-decrypt", "-inkey", str(private)], input=legacy,
                          capture_output=True, check=True)
    assert back.stdout == b"for-batch-shipyard"


def test_no_legacy_block_that_is_not_one_decrypts_to_anything(key) -> None:
    """OpenSSL's implicit rejection turns a bad PKCS#1 v1.5 block into a random message, never an
    error: every random block (what a wrong key makes of a value) must still fail here."""
    import os

    size = key.key_size // 8
    for _ in range(300):
        block = b"\x00" + os.urandom(size - 1)  # below the modulus
        with pytest.raises(DecryptionError):
            decrypt(base64.b64encode(block).decode(), key)
    with pytest.raises(DecryptionError):
        decrypt(base64.b64encode(b"\xff" * size).decode(), key)  # not below the modulus
    with pytest.raises(DecryptionError):
        decrypt(base64.b64encode(b"\x01" * (size - 1)).decode(), key)  # not one block
