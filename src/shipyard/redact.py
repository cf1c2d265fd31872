"""Keep secrets out of every message: SAS query strings, account keys, passwords."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# Keys whose values are secrets wherever they appear in Batch Shipyard config files.
SECRET_KEYS = frozenset(
    {
        "account_key",
        "auth_key",
        "password",
        "passphrase",
        "db_password",
        "rsa_private_key_pem",
        "instrumentation_key",
        "sas",
        "sas_token",
        "sas_key",
        "connection_string",
        "token",
    }
)

_QUERY_RE = re.compile(r"(https?://[^\s?#'\"]+)\?[^\s'\"]*", re.IGNORECASE)
_SIG_RE = re.compile(r"(?i)\b(sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=[^&\s'\"]+")


def is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in SECRET_KEYS or key.endswith(("_password", "_key_data")) or key == "sas"


def strip_query(uri: str) -> str:
    """The URI with any query string and fragment removed (a SAS lives there)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Remove SAS query strings, SAS-looking parameters and the given literal secrets."""
    text = _QUERY_RE.sub(lambda m: m.group(1) + "?<redacted>", text)
    text = _SIG_RE.sub(lambda m: m.group(1) + "=<redacted>", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text
