"""Azure SDK failures as one-line ``StorageError``s, and the HTTP log hook: never a key, token or SAS."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shipyard.errors import StorageError
from shipyard.redact import redact, strip_query
from shipyard.storage.azure_retry import failure_reason

log = logging.getLogger("shipyard.storage.azure")

AUTH_CODES = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "InvalidAuthenticationInfo",
    "NoAuthenticationInformation",
}
_LOGGED_QUERY_KEYS = ("restype", "comp")  # never the rest: a SAS lives in the query string


def map_sdk_error(
    exc: Exception, what: str, *, account: str, account_url: str, shared_key: bool, secrets: tuple[str, ...],
    container: str | None, connect_timeout_s: float, read_timeout_s: float,
) -> StorageError:
    """One line for an SDK failure of ``what`` against ``account``, secrets removed."""
    where = f"storage account '{account}'"
    code = getattr(exc, "error_code", None) or ""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # raised here, not by the service: the credential found no token to send
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StorageError(
            redact(f"{what}: no Azure AD token for {where} ({first})", secrets),
            hint="sign in (az login), give this machine a managed identity, or give the link an account_key",
        )
    if (
        isinstance(exc, ClientAuthenticationError)
        or code in AUTH_CODES
        or status == 403
    ):
        hint = (
            "check account_key in credentials.yaml"
            if shared_key
            else "check the AAD role assignment"
        )
        reason = "wrong account key?" if shared_key else "missing permission?"
        return StorageError(
            f"{what}: {where} refused the credentials ({reason})", hint=hint
        )
    if code == "ContainerNotFound":
        return StorageError(
            f"{what}: container '{container}' does not exist in {where}"
        )
    if code == "BlobNotFound":
        return StorageError(f"{what}: blob not found in {where}")
    if isinstance(exc, ResourceNotFoundError) and not code:
        # a blob service always names its 404 (x-ms-error-code): this endpoint is something else
        return StorageError(
            f"{what}: {account_url} answered 404 Not Found without a storage error code: "
            "not a blob service endpoint?",
            hint=f"check blob_endpoint (or endpoint) of {where} in credentials.yaml",
        )
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        reason = failure_reason(
            exc, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s
        )
        attempts = getattr(exc, "shipyard_attempts", None)
        tail = f" ({attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return StorageError(
            redact(f"{what}: cannot reach {where} at {account_url}: {reason}{tail}", secrets)
        )
    message = getattr(exc, "reason", None) or ""
    detail = code or message or type(exc).__name__
    text = (
        f"{what}: {where} answered {status} {detail}"
        if status
        else f"{what}: {detail}"
    )
    return StorageError(redact(text.replace("\n", " "), secrets))


def log_response(response: Any) -> None:
    """The SDK's raw response hook: each HTTP exchange (retries included) at DEBUG, no secrets.

    Only the method, the URL without its query (but ``restype``/``comp``, shown apart, which say
    what the request was) and the status; never a header (Authorization, x-ms-copy-source carry secrets).
    """
    if not log.isEnabledFor(logging.DEBUG):
        return
    request = response.http_request
    parts = urlsplit(request.url)
    kinds = " ".join(f"{k}={v}" for k, v in parse_qsl(parts.query) if k in _LOGGED_QUERY_KEYS)
    log.debug(
        "%s %s%s: %s", request.method, strip_query(request.url), f" ({kinds})" if kinds else "",
        response.http_response.status_code,
    )
