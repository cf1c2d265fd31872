"""Encrypted config values: shipyard's hybrid format, and Batch Shipyard's own.

**shipyard's format, version 1** (the default): ``sy1:`` then the base64 of

    0x01 | RSA-OAEP(SHA-256, MGF1-SHA-256) of a fresh 32-byte AES key (the key's size in bytes)
         | a 12-byte nonce | AES-256-GCM of the UTF-8 value, with its 16-byte tag

The value can be of any length (a plain RSA-OAEP block holds at most about 190 bytes with a
2048-bit key, less than some connection strings and SAS tokens); the GCM tag makes a tampered
value or the wrong key fail, never decrypt to something else. The version byte is authenticated as
the GCM associated data.

**Batch Shipyard's format** (``--legacy``): the base64 of one RSA PKCS#1 v1.5 block, as
``openssl rsautl -encrypt`` writes it with the certificate's public key. Both decrypt everywhere;
a value that starts with ``sy1:`` is shipyard's, any other Batch Shipyard's. PKCS#1 v1.5 has no
integrity check beyond its padding, and OpenSSL 3.2+ hides a bad padding behind a random message
("implicit rejection"): so the padding is checked here (:func:`_pkcs1v15_decrypt`), and a wrong
key or a tampered block fails it, one clean error too.

Nothing here logs or shows a value: every failure's message is generic.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from shipyard.errors import ShipyardError

PREFIX = "sy1:"
VERSION = b"\x01"
KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionError(ShipyardError):
    """A value that does not decrypt with the key at hand (tampered, or encrypted for another key)."""


def _oaep() -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def is_encrypted(value: str) -> bool:
    """Whether ``value`` is shipyard's format (Batch Shipyard's cannot be told from plain base64)."""
    return value.startswith(PREFIX)


RSA_BLOCK_BYTES = (256, 384, 512)  # the ciphertext of a 2048-, 3072- or 4096-bit key


def looks_legacy(value: str, key_bits: int | None = None) -> bool:
    """Whether ``value`` can be Batch Shipyard's format: the base64 of exactly one RSA block (of a
    ``key_bits`` key, or of any usual size). Plain base64 of another length cannot be."""
    sizes = (key_bits // 8,) if key_bits else RSA_BLOCK_BYTES
    try:
        return len(base64.b64decode(value, validate=True)) in sizes
    except (binascii.Error, ValueError):
        return False


def encrypt(value: str, public_key: Any, *, legacy: bool = False) -> str:
    """``value`` encrypted for ``public_key`` (an RSA public key), as text for a config file."""
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = value.encode("utf-8")
    if legacy:
        limit = public_key.key_size // 8 - 11
        if len(data) > limit:
            raise ShipyardError(f"a value of {len(data)} bytes does not fit Batch Shipyard's format "
                                f"(at most {limit} with this key)", hint="leave out --legacy")
        return base64.b64encode(public_key.encrypt(data, padding.PKCS1v15())).decode()
    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    wrapped = public_key.encrypt(key, _oaep())
    sealed = AESGCM(key).encrypt(nonce, data, VERSION)
    return PREFIX + base64.b64encode(VERSION + wrapped + nonce + sealed).decode()


def _pkcs1v15_decrypt(private_key: Any, data: bytes) -> bytes:
    """Batch Shipyard's PKCS#1 v1.5 block decrypted, its padding checked here.

    OpenSSL 3.2+ answers a block that does not decrypt with "implicit rejection": a random message
    instead of an error, which could pass for a value. So the RSA operation is done on the key's
    numbers and the padding (``00 02``, at least 8 nonzero bytes, ``00``) is checked explicitly: a
    tampered value or another key's fails. (A local decryption of config values: no padding oracle.)
    """
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    size = (n.bit_length() + 7) // 8
    value = int.from_bytes(data, "big")
    if len(data) != size or value >= n:
        raise ValueError("not one RSA block of this key")
    # the Chinese remainder theorem, as the key's own numbers allow: four times faster than pow(c, d, n)
    m1, m2 = pow(value, numbers.dmp1, numbers.p), pow(value, numbers.dmq1, numbers.q)
    block: bytes = (m2 + numbers.q * ((numbers.iqmp * (m1 - m2)) % numbers.p)).to_bytes(size, "big")
    separator = block.find(b"\x00", 2)
    if block[:2] != b"\x00\x02" or separator < 10:
        raise ValueError("bad PKCS#1 v1.5 padding")
    return block[separator + 1:]


def decrypt(text: str, private_key: Any) -> str:
    """``text`` (either format) decrypted with ``private_key``; ``DecryptionError`` when it does not."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    failure = DecryptionError("an encrypted value does not decrypt with this key (tampered, or for another key)")
    try:
        if text.startswith(PREFIX):
            blob = base64.b64decode(text[len(PREFIX):], validate=True)
            size = private_key.key_size // 8
            if blob[:1] != VERSION or len(blob) < 1 + size + NONCE_BYTES + 16:
                raise failure
            wrapped, nonce, sealed = blob[1:1 + size], blob[1 + size:1 + size + NONCE_BYTES], blob[1 + size + NONCE_BYTES:]
            key = private_key.decrypt(wrapped, _oaep())
            return AESGCM(key).decrypt(nonce, sealed, VERSION).decode("utf-8")
        return _pkcs1v15_decrypt(private_key, base64.b64decode(text, validate=True)).decode("utf-8")
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        raise failure from None
