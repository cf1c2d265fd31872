"""The Azure page-blob store, on the official ``azure-storage-blob`` SDK.

- Credentials: the link's ``account_key`` (shared key), else AAD through ``azure-identity``'s
  ``DefaultAzureCredential`` (:func:`shipyard.azure.credentials.storage_credential`).
- Endpoint: ``blob_endpoint`` when set (an emulator such as Azurite, path style
  ``http://127.0.0.1:PORT/<account>``), else ``https://<account>.blob.<endpoint>``.
- Retries: only transient failures (5xx but 501/505, timeouts, connection resets) with capped
  exponential backoff and jitter; a 4xx is never retried (:class:`shipyard.azure.retry.RetryOptions`).
- Stalls: a connection attempt may take ``connection_timeout_s`` (10 s), a response
  ``read_timeout_s`` (60 s); a stalled or refused connection is retried twice, then it is one
  error naming the endpoint, the reason and the attempts.
- Logging (``-v``): each operation at INFO (which endpoint and blob), each retry at INFO with its
  reason and backoff, each HTTP request and its status at DEBUG; never a key, a token or a SAS.
- Errors: every SDK exception becomes one-line :class:`StorageError` with secrets redacted
  (:func:`shipyard.azure.errors.map_sdk_error`, in storage's words).

The SDK is imported here (and in :mod:`shipyard.azure`) only, so the CLI's start-up does not pay for it.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import (
    AzureError,
    IncompleteReadError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings

from shipyard.azure.blob_retry import blob_client_kwargs
from shipyard.azure.credentials import Credential, require_https, storage_credential, storage_key
from shipyard.azure.errors import AUTH_CODES, Target, error_code, map_sdk_error, response_logger
from shipyard.azure.retry import RetryOptions
from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError
from shipyard.redact import redact
from shipyard.storage import ranges as rng
from shipyard.storage.azure_blocks import AzureBlockBlobs
from shipyard.storage.store import (
    BlobProperties,
    CopyRefusedError,
    CopyState,
    CopyStatus,
    PageBlobStore,
)

__all__ = ["AzurePageBlobStore"]

log = logging.getLogger(__name__)
_log_response = response_logger(log)

SAS_LIFETIME = timedelta(hours=2)  # long enough for a cross-account copy of a large VHD
_DEFAULTS = RetryOptions()
_MAX_CLIENTS = 64  # blob clients kept per store


class AzurePageBlobStore(AzureBlockBlobs):
    """One Azure (or Azurite) storage account, addressed by a storage link (block blobs: ``azure_blocks``)."""

    kind = "azure"

    def __init__(
        self,
        link: StorageLink,
        *,
        retry_total: int = _DEFAULTS.retry_total,
        retry_connect: int = _DEFAULTS.retry_connect,
        initial_backoff_s: float = _DEFAULTS.initial_backoff_s,
        max_backoff_s: float = _DEFAULTS.max_backoff_s,
        connection_timeout_s: float = _DEFAULTS.connection_timeout_s,
        read_timeout_s: float = _DEFAULTS.read_timeout_s,
        credential: Any = None,
        **client_options: Any,
    ) -> None:
        """``credential``: an SDK credential to use instead of the link's; ``client_options`` go to the SDK."""
        self.link = link
        self.account = link.account
        self.account_url = link.blob_base_url
        self.where = f"storage account '{self.account}'"  # how messages name it
        self.retry = RetryOptions(
            retry_total=retry_total, retry_connect=retry_connect, initial_backoff_s=initial_backoff_s,
            max_backoff_s=max_backoff_s, connection_timeout_s=connection_timeout_s, read_timeout_s=read_timeout_s,
        )
        if credential is None:
            self.credential = storage_credential(link)
        else:  # the caller's: the link's key (if any) is still a secret never to show
            key = storage_key(link) or ""
            self.credential = Credential(credential, "given", (key,) if key else ())
        self._secrets: tuple[str, ...] = self.credential.secrets
        self._shared_key = self.credential.shared_key
        require_https(
            self.credential, self.account_url, where=self.where,
            hint="use an https blob_endpoint, or give the link an account_key", error=StorageError,
        )
        self._service = BlobServiceClient(
            self.account_url,
            credential=self.credential.sdk,
            raw_response_hook=_log_response,
            **blob_client_kwargs(self.retry, log),
            **client_options,
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        log.info(
            "storage account '%s' at %s (%s; %s)",
            self.account, self.account_url, self.credential.description, self.retry.describe(),
        )

    # -- helpers -----------------------------------------------------------------------------------
    def blob_uri(self, container: str, blob: str) -> str:
        return f"{self.account_url}/{container}/{blob}"

    def _blob(self, container: str, blob: str) -> Any:
        """One client per blob, kept (building one costs about 0.2 ms of CPU: per Put Page, that
        was most of what shipyard spent beyond a bare SDK loop). SDK clients are thread-safe."""
        key = (container, blob)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) >= _MAX_CLIENTS:
                    self._clients.pop(next(iter(self._clients)))
                client = self._clients[key] = self._service.get_blob_client(container, blob)
            return client

    def _target(self) -> Target:
        """This account, as its one-line errors name it, in storage's words."""
        return Target(
            self.where, self.account_url, self._shared_key, self._secrets,
            connect_timeout_s=self.retry.connection_timeout_s, read_timeout_s=self.retry.read_timeout_s,
            key_hint="check account_key in credentials.yaml",
            no_token_hint="sign in (az login), give this machine a managed identity, or give the link an account_key",
            # a blob service always names its 404 (x-ms-error-code): this endpoint is something else
            bare_404=f"{self.account_url} answered 404 Not Found without a storage error code: "
                     "not a blob service endpoint?",
            bare_404_hint=f"check blob_endpoint (or endpoint) of {self.where} in credentials.yaml",
        )

    def _error(self, exc: Exception, what: str, container: str | None = None) -> StorageError:
        """One line for an SDK failure, secrets removed."""
        codes = {
            "ContainerNotFound": f"container '{container}' does not exist in {self.where}",
            "BlobNotFound": f"blob not found in {self.where}",
        }
        return map_sdk_error(exc, what, self._target(), error=StorageError, codes=codes)

    def _call(
        self, what: str, container: str | None, func: Any, *args: Any, level: int = logging.INFO, **kwargs: Any
    ) -> Any:
        log.log(level, "%s", what)
        try:
            return func(*args, **kwargs)
        except AzureError as exc:
            raise self._error(exc, what, container) from None

    # -- interface ---------------------------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        what = f"creating container '{container}'"
        log.info("%s in %s", what, self.account_url)
        client = self._service.get_container_client(container)
        try:
            client.create_container()
        except ResourceExistsError:
            log.debug("container '%s' exists already", container)
        except AzureError as exc:
            raise self._error(exc, what, container) from None

    def create_page_blob(
        self,
        container: str,
        blob: str,
        size_bytes: int,
        *,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> None:
        rng.check_page_blob_size(size_bytes)
        uri = self.blob_uri(container, blob)
        kwargs: dict[str, Any] = {"metadata": dict(metadata or {})}
        if not overwrite:
            kwargs["if_none_match"] = "*"
        log.info("creating page blob %s (%s bytes)", uri, f"{size_bytes:,}")
        try:
            self._blob(container, blob).create_page_blob(size_bytes, **kwargs)
        except ResourceExistsError:
            raise StorageError(f"blob {uri} already exists") from None
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise StorageError(f"blob {uri} already exists") from None
            raise self._error(exc, f"creating {uri}", container) from None
        except AzureError as exc:
            raise self._error(exc, f"creating {uri}", container) from None

    def put_pages(
        self,
        container: str,
        blob: str,
        offset: int,
        data: bytes,
        md5: bytes | None = None,
    ) -> None:
        rng.check_page_write(offset, len(data))
        kwargs: dict[str, Any] = {}
        if md5 is not None:
            import base64

            kwargs["headers"] = {"Content-MD5": base64.b64encode(md5).decode()}
        uri = self.blob_uri(container, blob)
        log.debug("writing %d bytes at %d of %s", len(data), offset, uri)
        self._call(
            f"writing pages at {offset} of {uri}",
            container,
            self._blob(container, blob).upload_page,
            data,
            offset=offset,
            length=len(data),
            level=logging.NOTSET,  # the line above says it; one per Put Page is -vv only
            **kwargs,
        )

    def clear_pages(self, container: str, blob: str, offset: int, length: int) -> None:
        rng.check_page_write(offset, length)
        uri = self.blob_uri(container, blob)
        self._call(
            f"clearing pages {offset}-{offset + length} of {uri}", container,
            self._blob(container, blob).clear_page, offset=offset, length=length,
        )

    def get_page_ranges(self, container: str, blob: str) -> list[tuple[int, int]]:
        client = self._blob(container, blob)
        what = f"listing the page ranges of {self.blob_uri(container, blob)}"
        log.info("%s", what)
        try:
            if hasattr(client, "list_page_ranges"):
                found = [
                    (r.start, r.end + 1)
                    for r in client.list_page_ranges()
                    if not r.cleared
                ]
            else:  # pragma: no cover - SDKs before 12.16
                found = [
                    (r["start"], r["end"] + 1) for r in client.get_page_ranges()[0]
                ]
        except AzureError as exc:
            raise self._error(exc, what, container) from None
        ranges = rng.coalesce_ranges(found)
        log.info("%s: %d ranges, %s bytes", self.blob_uri(container, blob), len(ranges),
                 f"{rng.total_bytes(ranges):,}")
        return ranges

    def get_properties(self, container: str, blob: str) -> BlobProperties | None:
        what = f"reading the properties of {self.blob_uri(container, blob)}"
        log.info("%s", what)
        try:
            props = self._blob(container, blob).get_blob_properties()
        except ResourceNotFoundError as exc:
            code = error_code(exc)
            if code == "ContainerNotFound" or not self._container_exists(container):
                raise StorageError(
                    f"container '{container}' does not exist in storage account '{self.account}'"
                ) from None
            log.info("%s: no such blob", self.blob_uri(container, blob))
            return None
        except AzureError as exc:
            raise self._error(exc, what, container) from None
        copy = None
        if props.copy and props.copy.status:
            copied = total = None
            if props.copy.progress and "/" in props.copy.progress:
                copied, total = (int(x) for x in props.copy.progress.split("/", 1))
            description = (
                redact(props.copy.status_description, self._secrets)
                if props.copy.status_description
                else None
            )
            copy = CopyState(_copy_status(props.copy.status), copied, total, description)
        md5 = props.content_settings.content_md5 if props.content_settings else None
        return BlobProperties(
            size_bytes=props.size,
            content_md5=bytes(md5) if md5 else None,
            metadata=dict(props.metadata or {}),
            copy=copy,
            blob_type="BlockBlob" if str(getattr(props.blob_type, "value", props.blob_type)) == "BlockBlob"
            else "PageBlob",
        )

    def _container_exists(self, container: str) -> bool:
        log.info("checking that container '%s' exists in %s", container, self.account_url)
        try:
            return bool(self._service.get_container_client(container).exists())
        except AzureError:
            return True  # cannot tell: report the blob as missing, not the container

    def set_metadata(self, container: str, blob: str, metadata: dict[str, str]) -> None:
        self._call(
            f"setting the metadata of {self.blob_uri(container, blob)}",
            container,
            self._blob(container, blob).set_blob_metadata,
            dict(metadata),
        )

    def set_content_md5(self, container: str, blob: str, md5: bytes) -> None:
        """Set Blob HTTP Headers replaces all six headers: the ones the blob has are passed back."""
        client = self._blob(container, blob)
        uri = self.blob_uri(container, blob)
        current = self._call(f"reading the HTTP headers of {uri}", container, client.get_blob_properties)
        had = current.content_settings
        settings = ContentSettings(
            content_type=had.content_type or "application/octet-stream",
            content_encoding=had.content_encoding,
            content_language=had.content_language,
            content_disposition=had.content_disposition,
            cache_control=had.cache_control,
            content_md5=bytearray(md5),
        )
        self._call(
            f"setting the Content-MD5 of {uri}", container, client.set_http_headers, settings,
        )

    def read_range(self, container: str, blob: str, offset: int, length: int) -> bytes:
        """One ranged Get Blob. Not ``download_blob``: on a page blob its downloader follows every
        ranged GET with a Get Page Ranges of the whole blob (azure-storage-blob 12.x), which
        doubled the requests of a read in place and can time out on a fragmented blob."""
        if length <= 0:
            return b""
        what = f"reading {length:,} bytes at {offset} of {self.blob_uri(container, blob)}"
        client = self._blob(container, blob)
        ranged = f"bytes={offset}-{offset + length - 1}"
        for attempt in range(self.retry.transport_retries + 1):
            # the generated operation: the request goes through the client's pipeline (retry, auth)
            stream = self._call(what, container, client._client.blob.download, range=ranged, level=logging.DEBUG)
            try:
                return b"".join(stream)
            except (ServiceResponseError, IncompleteReadError) as exc:  # the body broke off: read it again
                if attempt == self.retry.transport_retries:
                    raise self._error(exc, what, container) from None
                log.info("%s: the answer broke off (%s); reading it again", what, self.retry.failure_reason(exc))
        raise AssertionError("unreachable")

    def delete_blob(self, container: str, blob: str) -> None:
        uri = self.blob_uri(container, blob)
        log.info("deleting %s", uri)
        try:
            self._blob(container, blob).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            raise self._error(exc, f"deleting {uri}", container) from None

    # -- server-side copy --------------------------------------------------------------------------
    def read_sas_url(
        self, container: str, blob: str, lifetime: timedelta = SAS_LIFETIME
    ) -> str:
        """A URL with a short-lived read-only SAS. It is a secret: never print or log it.

        Signed with the account key, or (Azure AD) with a user delegation key.
        """
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        start = datetime.now(UTC) - timedelta(minutes=5)  # clock skew
        expiry = start + lifetime
        kwargs: dict[str, Any] = {
            "permission": BlobSasPermissions(read=True),
            "start": start,
            "expiry": expiry,
        }
        if self._shared_key and self.link.account_key:
            kwargs["account_key"] = storage_key(self.link)
        else:
            delegation = self._call(
                f"getting a user delegation key from {self.account_url}",
                None,
                self._service.get_user_delegation_key,
                start,
                expiry,
            )
            if delegation.value:
                self._secrets = tuple(dict.fromkeys((*self._secrets, delegation.value)))
            kwargs["user_delegation_key"] = delegation
        token = generate_blob_sas(self.account, container, blob, **kwargs)
        self._secrets = tuple(dict.fromkeys((*self._secrets, token)))
        return f"{self._blob(container, blob).url}?{token}"

    def write_container_sas_url(self, container: str, lifetime: timedelta = SAS_LIFETIME) -> str:
        """A container URL with a short-lived SAS to create and write blobs (a task's output files).
        It is a secret: never print or log it. Account key or user delegation key, as for reads."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        start = datetime.now(UTC) - timedelta(minutes=5)  # clock skew
        kwargs: dict[str, Any] = {"permission": ContainerSasPermissions(read=True, write=True, create=True, add=True),
                                  "start": start, "expiry": start + lifetime}
        if self._shared_key and self.link.account_key:
            kwargs["account_key"] = storage_key(self.link)
        else:
            kwargs["user_delegation_key"] = self._call(
                f"getting a user delegation key from {self.account_url}", None,
                self._service.get_user_delegation_key, start, start + lifetime)
        token = generate_container_sas(self.account, container, **kwargs)
        self._secrets = tuple(dict.fromkeys((*self._secrets, token)))
        return f"{self._service.get_container_client(container).url}?{token}"

    def start_copy_from(
        self,
        container: str,
        blob: str,
        source: PageBlobStore,
        source_container: str,
        source_blob: str,
        *,
        metadata: dict[str, str] | None = None,
    ) -> CopyState:
        if not isinstance(source, AzurePageBlobStore):
            raise CopyRefusedError(
                f"Azure storage cannot copy server side from {source.kind} storage"
            )
        url = source.read_sas_url(source_container, source_blob)
        secrets = (*self._secrets, *source._secrets, url.split("?", 1)[1])
        what = f"copying into {self.blob_uri(container, blob)}"
        log.info(
            "starting a server-side copy of %s into %s (a read-only SAS, not shown)",
            source.blob_uri(source_container, source_blob), self.blob_uri(container, blob),
        )
        try:
            extra: dict[str, Any] = {} if metadata is None else {"metadata": dict(metadata)}
            result = self._blob(container, blob).start_copy_from_url(url, retry_total=1, **extra)
        except AzureError as exc:
            error = self._error(exc, what, container)
            code = error_code(exc)
            if code in ("ContainerNotFound",) or (
                code in AUTH_CODES and "CopySource" not in code
            ):
                raise error from None
            log.info("%s: the service refused the server-side copy", self.blob_uri(container, blob))
            raise CopyRefusedError(
                redact(error.message, secrets), hint="falling back to a streamed copy"
            ) from None
        status = _copy_status((result or {}).get("copy_status") or "pending")
        log.info("server-side copy into %s: %s", self.blob_uri(container, blob), status)
        return CopyState(status)

    def copy_status(self, container: str, blob: str) -> CopyState:
        props = self.get_properties(container, blob)
        if props is None:
            raise StorageError(f"blob {self.blob_uri(container, blob)} does not exist")
        return props.copy or CopyState("success", props.size_bytes, props.size_bytes)


_COPY_STATUSES: dict[str, CopyStatus] = {
    "pending": "pending", "success": "success", "aborted": "aborted", "failed": "failed"
}


def _copy_status(value: object) -> CopyStatus:
    """The SDK's copy status (a str or an enum of str) as one of the four the store knows."""
    text = str(getattr(value, "value", value)).lower()
    return _COPY_STATUSES.get(text, "failed")
