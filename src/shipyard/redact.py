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
# a SAS parameter, also where its separator is percent-encoded (``%26sig=...``, ``%3Fsv=...``)
_SIG_RE = re.compile(
    r"(?i)(?:\b|(?<=%26)|(?<=%3f)|(?<=%23))(sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)(?:=|%3d)[^&\s'\"]+"
)
# ``scheme://user:password@host``: the user information of a URI
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@")


def is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in SECRET_KEYS or key.endswith(("_password", "_key_data")) or key == "sas"


def strip_query(uri: str) -> str:
    """The URI with any query string, fragment and user information removed (a SAS lives there)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rpartition("@")[2]  # no user name or password either
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Remove SAS query strings, SAS-looking parameters and the given literal secrets."""
    text = _USERINFO_RE.sub(lambda m: m.group(1) + "<redacted>@", text)
    text = _QUERY_RE.sub(lambda m: m.group(1) + "?<redacted>", text)
    text = _SIG_RE.sub(lambda m: m.group(1) + "=<redacted>", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text
