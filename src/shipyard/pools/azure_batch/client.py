"""The Batch account's data-plane client (``azure.batch.BatchClient``), and every call's errors.

- Endpoint: ``credentials.batch.account_service_url`` (``https://<account>.<region>.batch.azure.com``).
- Credential: the account key (shared key) or Azure AD, from :func:`shipyard.azure.credentials.batch_credential`.
  An Azure AD token is only ever sent over https.
- Retries and timeouts: :class:`shipyard.azure.retry.RetryOptions`, as for every Azure client.
- Errors: :meth:`BatchSession.call` turns an SDK failure into one line. A ``*NotFound`` code is a
  :class:`NotFoundError`, an ``*Exists`` code or a state that forbids the operation a
  :class:`ConflictError`, anything else a :class:`BackendError`; never a key or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.exceptions import AzureError

from shipyard.azure.batch_account import account_url
from shipyard.azure.credentials import Credential, batch_credential, require_https
from shipyard.azure.errors import Target, error_code, map_sdk_error, response_logger
from shipyard.azure.retry import RetryOptions
from shipyard.config.backend import ACCOUNT_URL_PATH
from shipyard.config.credentials import Credentials
from shipyard.errors import BackendError, ConfigError, ConflictError, NotFoundError

log = logging.getLogger(__name__)
T = TypeVar("T")

# the service's codes for "it does not exist" and "it exists, or its state forbids that"
NOT_FOUND_CODES = frozenset({"PoolNotFound", "JobNotFound", "TaskNotFound", "NodeNotFound", "FileNotFound",
                             "ResourceNotFound", "OperationNotFound"})
CONFLICT_CODES = frozenset({"PoolExists", "JobExists", "TaskExists", "PoolBeingDeleted", "JobBeingDeleted",
                            "JobCompleted", "JobNotActive", "TaskCompleted", "PoolNotSteady", "TooManyRequestsForPool",
                            "OperationInvalidForCurrentState", "NodeNotReady", "NodeBeingRemoved",
                            "PoolIsResizing", "JobBeingTerminated"})
SHARED_KEY_GALLERY_HINT = (
    "Azure Batch creates pools from a Compute Gallery image only with Microsoft Entra ID: remove "
    "credentials.batch.account_key and configure credentials.batch.aad (a service principal) or sign in "
    "with a managed identity or az login"
)


@dataclass
class BatchSession:
    """An open ``BatchClient`` for one account, and how its failures are worded."""

    client: Any
    target: Target
    credential: Credential
    account: str

    def call(self, what: str, operation: Callable[[], T], *, codes: Mapping[str, str] | None = None) -> T:
        """``operation()``, its SDK failure one line of the right type."""
        try:
            return operation()
        except AzureError as exc:
            raise self.error(exc, what, codes) from None

    def error(self, exc: AzureError, what: str, codes: Mapping[str, str] | None = None) -> BackendError:
        code = error_code(exc)
        kind: type[BackendError] = BackendError
        if code in NOT_FOUND_CODES:
            kind = NotFoundError
        elif code in CONFLICT_CODES:
            kind = ConflictError
        mapped = map_sdk_error(exc, what, self.target, error=kind, codes=codes or {})
        if self.credential.shared_key and _refused_shared_key(exc, code):
            return BackendError(f"{what}: {self.target.name} refused shared key credentials for this pool "
                                f"({code or getattr(exc, 'status_code', '')})", hint=SHARED_KEY_GALLERY_HINT)
        return mapped

    def close(self) -> None:
        self.client.close()


def _refused_shared_key(exc: AzureError, code: str) -> bool:
    """The service's refusal of a gallery pool made with shared key: an authentication error code
    that names Azure AD, or a 403 whose message says so."""
    text = str(exc).lower()
    return (code in {"AuthenticationFailed", "InvalidAuthenticationInfo", "OperationNotPermittedWithSharedKey"}
            or getattr(exc, "status_code", None) == 403) and ("aad" in text or "entra" in text
                                                             or "azure active directory" in text
                                                             or "shared key" in text or "sharedkey" in text)


def open_session(credentials: Credentials, *, options: RetryOptions | None = None) -> BatchSession:
    """A ``BatchClient`` for the account of ``credentials.batch``; no request is sent yet."""
    from azure.batch import BatchClient

    url, name = account_url(credentials)
    credential = batch_credential(credentials)
    try:
        require_https(credential, url, where=f"Batch account '{name}'", error=ConfigError,
                      hint="use the account's https URL")
    except ConfigError as exc:
        raise ConfigError(exc.message, path=ACCOUNT_URL_PATH, hint=exc.hint) from None
    retry = options or RetryOptions()
    target = Target(f"Batch account '{name}'", url, shared_key=credential.shared_key, secrets=credential.secrets,
                    connect_timeout_s=retry.connection_timeout_s, read_timeout_s=retry.read_timeout_s,
                    key_hint="check credentials.batch.account_key",
                    aad_hint="give the principal a role on the Batch account (Contributor, or a custom role "
                             "with the Batch data actions)",
                    bare_404=f"no Batch account answers at {url}",
                    bare_404_hint=f"check {ACCOUNT_URL_PATH}")
    client = BatchClient(endpoint=url, credential=credential.sdk, raw_response_hook=response_logger(log),
                         **retry.client_kwargs(log))
    log.info("Batch account '%s' at %s (%s); %s", name, url, credential.description, retry.describe())
    return BatchSession(client, target, credential, name)
