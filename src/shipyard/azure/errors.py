"""Azure SDK failures as one-line shipyard errors, and the HTTP log hook: never a key, token or SAS.

:func:`map_sdk_error` turns any ``azure.core`` exception into the error type its caller names
(``StorageError`` for storage, ``BackendError`` for the pool backends), in this order:

- no token (``ClientAuthenticationError`` raised before any request): the credential found
  nothing to sign with, and how to give it something;
- refused credentials (``ClientAuthenticationError``, a 403, or an authentication error code):
  a wrong key or a missing role assignment;
- an error code the caller words itself (``ContainerNotFound``, ``PoolNotFound`` ...);
- a 404 without an error code, where the caller says what that means (not that service at all);
- a transport failure (``ServiceRequestError``/``ServiceResponseError``): cannot reach the
  service, why (:func:`~shipyard.azure.retry.failure_reason`), and after how many attempts;
- anything else: what the service answered, or the exception's name.

Every message and hint passes through :func:`shipyard.redact.redact` with the target's secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shipyard.azure.retry import ATTEMPTS_ATTRIBUTE, failure_reason
from shipyard.errors import ShipyardError
from shipyard.redact import redact, strip_query

E = TypeVar("E", bound=ShipyardError)

AUTH_CODES = frozenset(
    {
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "InvalidAuthenticationInfo",
        "NoAuthenticationInformation",
    }
)
DEFAULT_LOGGED_QUERY_KEYS = ("restype", "comp")  # never the rest: a SAS lives in the query string


@dataclass(frozen=True)
class Target:
    """The service a call went to, as its one-line errors name it. ``secrets`` are never shown."""

    name: str  # "storage account 'acct1'", "Batch account 'mybatch'"
    url: str  # its endpoint
    shared_key: bool = False  # signed with an account key; else Azure AD
    secrets: tuple[str, ...] = field(default=(), repr=False)
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    key_hint: str = "check the account key in credentials.yaml"
    aad_hint: str = "check the AAD role assignment"
    no_token_hint: str = (
        "sign in (az login), give this machine a managed identity, or configure a service principal "
        "(aad) in credentials.yaml"
    )
    # what a 404 that names no error code means here, with its hint (None: no special meaning)
    bare_404: str | None = None
    bare_404_hint: str | None = None


def error_code(exc: BaseException) -> str:
    """The service's error code (``x-ms-error-code`` or the body's), or ``""``.

    The SDKs' convenience methods set ``error_code``; the generated clients (Batch 15, ARM) parse
    the body into ``exc.error``; otherwise the response's ``x-ms-error-code`` header says it."""
    code = getattr(exc, "error_code", None)
    if code:
        return str(code)
    model = getattr(exc, "error", None)  # the generated SDKs' parsed body (BatchError, ARM's ErrorDetail)
    code = getattr(model, "code", None)
    if isinstance(code, str) and code:
        return code
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    return str(headers.get("x-ms-error-code") or _body_code(response) or "")


def _body_code(response: Any) -> str | None:
    """The code in an error body the SDK did not parse (a streamed download's): ``code`` or ``error.code``."""
    if response is None:
        return None
    try:
        response.read()  # a streamed response holds its body until read
        body = response.json()
    except Exception:  # noqa: BLE001 - no body, or not JSON: there is no code to read
        return None
    if isinstance(body, dict):
        inner = body.get("error")
        code = inner.get("code") if isinstance(inner, dict) else body.get("code")
        return code if isinstance(code, str) else None
    return None


def map_sdk_error(
    exc: BaseException,
    what: str,
    target: Target,
    *,
    error: type[E],
    codes: Mapping[str, str] | None = None,
) -> E:
    """One line for the SDK failure ``exc`` of ``what`` (``creating container 'vhds'``), secrets removed.

    ``error``: the shipyard error type to raise. ``codes``: error codes this caller words itself
    (``{"ContainerNotFound": "container 'vhds' does not exist in storage account 'acct1'"}``).
    """

    def made(text: str, hint: str | None = None) -> E:
        return error(
            redact(text.replace("\n", " "), target.secrets),
            hint=redact(hint, target.secrets) if hint else None,
        )

    where = target.name
    code = error_code(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # raised here, not by the service: the credential found no token to send
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return made(f"{what}: no Azure AD token for {where} ({first})", target.no_token_hint)
    if isinstance(exc, ClientAuthenticationError) or code in AUTH_CODES or status == 403:
        reason = "wrong account key?" if target.shared_key else "missing permission?"
        hint = target.key_hint if target.shared_key else target.aad_hint
        return made(f"{what}: {where} refused the credentials ({reason})", hint)
    if code and codes and code in codes:
        return made(f"{what}: {codes[code]}")
    if isinstance(exc, ResourceNotFoundError) and not code and target.bare_404:
        return made(f"{what}: {target.bare_404}", target.bare_404_hint)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        reason = failure_reason(exc, connect_timeout_s=target.connect_timeout_s, read_timeout_s=target.read_timeout_s)
        attempts = getattr(exc, ATTEMPTS_ATTRIBUTE, None)
        tail = f" ({attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return made(f"{what}: cannot reach {where} at {target.url}: {reason}{tail}")
    message = getattr(exc, "reason", None) or ""
    detail = code or message or type(exc).__name__
    return made(f"{what}: {where} answered {status} {detail}" if status else f"{what}: {detail}")


def response_logger(
    logger: logging.Logger, query_keys: tuple[str, ...] = DEFAULT_LOGGED_QUERY_KEYS
) -> Callable[[Any], None]:
    """An SDK ``raw_response_hook``: each HTTP exchange (retries included) at DEBUG, no secrets.

    Only the method, the URL without its query (but ``query_keys``, shown apart, which say what
    the request was: ``restype``/``comp`` for storage) and the status; never a header
    (Authorization, x-ms-copy-source carry secrets).
    """

    def log_response(response: Any) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        request = response.http_request
        parts = urlsplit(request.url)
        kinds = " ".join(f"{k}={v}" for k, v in parse_qsl(parts.query) if k in query_keys)
        logger.debug(
            "%s %s%s: %s", request.method, strip_query(request.url), f" ({kinds})" if kinds else "",
            response.http_response.status_code,
        )

    return log_response
