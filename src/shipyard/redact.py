"""Keep secrets out of every message: SAS query strings, account keys, passwords.

The one redaction layer: :func:`redact` removes what looks like a secret (a SAS, a URI's user
information), the literal secrets its caller names, and every secret this process has revealed
(:func:`remember`: a decrypted credential, a Key Vault secret's value). The CLI's output, its
error lines and its logs all pass through it.
"""

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


_revealed: set[str] = set()
MIN_SECRET_LENGTH = 4  # shorter "secrets" would blank ordinary words
MIN_REVEALED_LENGTH = 8  # a revealed value is blanked everywhere from then on: never a short word


def remember(secret: str | None) -> None:
    """A secret revealed in this process (decrypted, fetched from a vault): never shown from now on."""
    if not secret:
        return
    for piece in (secret, *(line.strip() for line in secret.splitlines())):  # a PEM, a file: each line too
        if len(piece) >= MIN_REVEALED_LENGTH:
            _revealed.add(piece)


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
    for secret in sorted({*secrets, *_revealed}, key=len, reverse=True):  # the longest first: no partial leftovers
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, "<redacted>")
    return text
