"""A whole credentials file stored as one Key Vault secret (``credentials.keyvault.credentials_secret_id``).

Batch Shipyard's form: the credentials as JSON, zlib-compressed and base64-encoded, the secret
tagged ``type: json``; ``shipyard keyvault add`` writes it so. A secret that holds the file's own
YAML or JSON text is read too. The document is validated as a credentials file would be, and named
``keyvault:<vault host>/secrets/<secret>`` in its errors (they never quote a value).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from pathlib import Path
from typing import Any

from shipyard.config.document import Document, parse_document
from shipyard.errors import ConfigError

TAGS = {"type": "json"}
CONTENT_TYPE = "application/x-shipyard-credentials"


def encode_credentials(data: dict[str, Any]) -> str:
    """``{"credentials": ...}`` in Batch Shipyard's secret form."""
    return base64.b64encode(zlib.compress(json.dumps(data, separators=(",", ":")).encode())).decode()


def decode_credentials(value: str, name: str) -> Document:
    """The credentials document a secret holds (Batch Shipyard's form, or YAML/JSON text)."""
    where = Path(f"keyvault:{name.partition('://')[2] or name}")  # a Path would fold the "//" of the id
    text: str | None = None
    try:
        text = zlib.decompress(base64.b64decode(value.strip(), validate=True)).decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
        text = None  # not Batch Shipyard's form: the file's own text
    document = parse_document(text if text is not None else value, where, json_text=text is not None)
    if "credentials" not in document.data:
        raise ConfigError("the secret holds no credentials document (no top-level key 'credentials')", file=str(where))
    return document
