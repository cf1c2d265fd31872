"""Key Vault secrets read on a node, as the pool's managed identity: the standard library only.

Node prep installs nothing, and the node bundle carries no Azure SDK: a secret is two HTTPS
requests. First a token for ``https://vault.azure.net`` from the node's managed identity, for the
pool's user-assigned identity (its ``client_id``):

- the Instance Metadata Service (``169.254.169.254``, header ``Metadata: true``), on a VM;
- or, where ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` are set (the managed-identity protocol
  ``azure-identity`` also follows), that endpoint.

Then ``GET <vault>/secrets/<name>[/<version>]`` with the bearer token. The token and the value are
never logged or shown; a failure is one line naming the secret's id, never its value.
A ``local://`` id is the local vault's, read by the local backend itself (``pools.local``).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from shipyard.errors import ShipyardError

IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
IDENTITY_API_VERSION = "2019-08-01"
KEYVAULT_RESOURCE = "https://vault.azure.net"
KEYVAULT_API_VERSION = "7.4"
TIMEOUT_S = 30.0


def _context() -> ssl.SSLContext:
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=bundle) if bundle else ssl.create_default_context()


def _get_json(url: str, headers: dict, what: str) -> dict:
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S,
                                    context=_context() if url.startswith("https:") else None) as response:
            data = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise ShipyardError(f"{what}: HTTP {exc.code} {_code(exc)}".rstrip()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ShipyardError(f"{what}: cannot reach {urllib.parse.urlsplit(url).netloc} ({reason})") from None
    except ValueError:
        raise ShipyardError(f"{what}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise ShipyardError(f"{what}: the answer is not a JSON object")
    return data


def _code(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        return ""
    inner = body.get("error") if isinstance(body, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else inner
    return str(code) if isinstance(code, str) else ""


def identity_token(client_id: Optional[str], resource: str = KEYVAULT_RESOURCE) -> str:
    """An access token for ``resource`` from the node's managed identity (``client_id``: which one)."""
    endpoint, header = os.environ.get("IDENTITY_ENDPOINT"), os.environ.get("IDENTITY_HEADER")
    query = {"resource": resource}
    if client_id:
        query["client_id"] = client_id
    if endpoint and header:
        url = f"{endpoint}?{urllib.parse.urlencode({'api-version': IDENTITY_API_VERSION, **query})}"
        headers = {"X-IDENTITY-HEADER": header}
    else:
        url = f"{IMDS_TOKEN_URL}?{urllib.parse.urlencode({'api-version': IMDS_API_VERSION, **query})}"
        headers = {"Metadata": "true"}
    data = _get_json(url, headers, "the pool's managed identity gave no token")
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ShipyardError("the pool's managed identity gave no token (no access_token in its answer)")
    return token


def fetch_secret(secret_id: str, client_id: Optional[str]) -> str:
    """The value of the Key Vault secret ``secret_id`` (``https://<vault>/secrets/<name>[/<version>]``)."""
    from shipyard.config.vault_ids import parse_vault_id

    parsed = parse_vault_id(secret_id, path="environment_variables_keyvault_secret_id")
    if parsed.is_local:
        raise ShipyardError(f"'{secret_id}' is not a Key Vault secret id (https://<vault>.vault.azure.net/secrets/"
                            "<name>): a local:// vault is this machine's, not a node's")
    token = identity_token(client_id)
    url = f"{parsed}?api-version={KEYVAULT_API_VERSION}"
    data = _get_json(url, {"Authorization": f"Bearer {token}", "Accept": "application/json"},
                     f"reading Key Vault secret {secret_id}")
    value = data.get("value")
    if not isinstance(value, str):
        raise ShipyardError(f"reading Key Vault secret {secret_id}: the answer holds no value")
    from shipyard.redact import remember

    remember(value)
    return value


def environment_from_secret(value: str, secret_id: str) -> dict:
    """A secret that holds environment variables: a JSON object of names to strings (Batch Shipyard's form)."""
    try:
        data = json.loads(value)
    except ValueError:
        raise ShipyardError(f"Key Vault secret {secret_id} holds no JSON object of environment variables") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and k for k in data):
        raise ShipyardError(f"Key Vault secret {secret_id} holds no JSON object of environment variables")
    return {k: "" if v is None else str(v) for k, v in data.items()}
