"""The Azure page-blob store, on the official ``azure-storage-blob`` SDK.

- Credentials: the link's ``account_key`` (shared key), else AAD through ``azure-identity``'s
  ``DefaultAzureCredential``.
- Endpoint: ``blob_endpoint`` when set (an emulator such as Azurite, path style
  ``http://127.0.0.1:PORT/<account>``), else ``https://<account>.blob.<endpoint>``.
- Retries: only transient failures (5xx but 501/505, timeouts, connection resets) with capped
  exponential backoff and jitter; a 4xx is never retried (:class:`TransientOnlyRetry`).
- Errors: every SDK exception becomes one-line :class:`StorageError` with secrets redacted.

The SDK is imported here only, so the CLI's start-up does not pay for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings

from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError
from shipyard.redact import redact
from shipyard.storage import ranges as rng
from shipyard.storage.azure_retry import TransientOnlyRetry
from shipyard.storage.store import (
    BlobProperties,
    CopyRefusedError,
    CopyState,
    PageBlobStore,
)

__all__ = ["AzurePageBlobStore", "TransientOnlyRetry"]

SAS_LIFETIME = timedelta(hours=2)  # long enough for a cross-account copy of a large VHD
_AUTH_CODES = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "InvalidAuthenticationInfo",
    "NoAuthenticationInformation",
}


class AzurePageBlobStore:
    """One Azure (or Azurite) storage account, addressed by a storage link."""

    kind = "azure"

    def __init__(
        self,
        link: StorageLink,
        *,
        retry_total: int = 5,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        connection_timeout_s: float = 20.0,
        read_timeout_s: float = 120.0,
        credential: Any = None,
        **client_options: Any,
    ) -> None:
        self.link = link
        self.account = link.account
        self.account_url = link.blob_base_url
        key = link.account_key.get_secret_value() if link.account_key else None
        self._secrets: tuple[str, ...] = (key,) if key else ()
        if credential is None:
            if key:
                credential = {"account_name": link.account, "account_key": key}
            else:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
        self._shared_key = key is not None
        self._service = BlobServiceClient(
            self.account_url,
            credential=credential,
            retry_policy=TransientOnlyRetry(
                retry_total=retry_total,
                initial_backoff_s=initial_backoff_s,
                max_backoff_s=max_backoff_s,
            ),
            connection_timeout=connection_timeout_s,
            read_timeout=read_timeout_s,
            **client_options,
        )

    # -- helpers -----------------------------------------------------------------------------------
    def blob_uri(self, container: str, blob: str) -> str:
        return f"{self.account_url}/{container}/{blob}"

    def _blob(self, container: str, blob: str):
        return self._service.get_blob_client(container, blob)

    def _error(
        self, exc: Exception, what: str, container: str | None = None
    ) -> StorageError:
        """One line for an SDK failure, secrets removed."""
        where = f"storage account '{self.account}'"
        code = getattr(exc, "error_code", None) or ""
        status = getattr(exc, "status_code", None)
        if (
            isinstance(exc, ClientAuthenticationError)
            or code in _AUTH_CODES
            or status == 403
        ):
            hint = (
                "check account_key in credentials.yaml"
                if self._shared_key
                else "check the AAD role assignment"
            )
            reason = "wrong account key?" if self._shared_key else "missing permission?"
            return StorageError(
                f"{what}: {where} refused the credentials ({reason})", hint=hint
            )
        if code == "ContainerNotFound":
            return StorageError(
                f"{what}: container '{container}' does not exist in {where}"
            )
        if code == "BlobNotFound" or (
            isinstance(exc, ResourceNotFoundError) and not code
        ):
            return StorageError(f"{what}: blob not found in {where}")
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            first = redact(
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                self._secrets,
            )
            return StorageError(
                f"{what}: cannot reach {where} at {self.account_url} ({first})"
            )
        message = getattr(exc, "reason", None) or ""
        detail = code or message or type(exc).__name__
        text = (
            f"{what}: {where} answered {status} {detail}"
            if status
            else f"{what}: {detail}"
        )
        return StorageError(redact(text.replace("\n", " "), self._secrets))

    def _call(
        self, what: str, container: str | None, func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return func(*args, **kwargs)
        except AzureError as exc:
            raise self._error(exc, what, container) from None

    # -- interface ---------------------------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        client = self._service.get_container_client(container)
        try:
            client.create_container()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise self._error(
                exc, f"creating container '{container}'", container
            ) from None

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
        kwargs: dict[str, Any] = {"metadata": dict(metadata or {})}
        if not overwrite:
            kwargs["if_none_match"] = "*"
        try:
            self._blob(container, blob).create_page_blob(size_bytes, **kwargs)
        except ResourceExistsError:
            raise StorageError(
                f"blob {self.blob_uri(container, blob)} already exists"
            ) from None
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise StorageError(
                    f"blob {self.blob_uri(container, blob)} already exists"
                ) from None
            raise self._error(
                exc, f"creating {self.blob_uri(container, blob)}", container
            ) from None
        except AzureError as exc:
            raise self._error(
                exc, f"creating {self.blob_uri(container, blob)}", container
            ) from None

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
        self._call(
            f"writing pages at {offset} of {self.blob_uri(container, blob)}",
            container,
            self._blob(container, blob).upload_page,
            data,
            offset=offset,
            length=len(data),
            **kwargs,
        )

    def get_page_ranges(self, container: str, blob: str) -> list[tuple[int, int]]:
        client = self._blob(container, blob)
        what = f"listing the page ranges of {self.blob_uri(container, blob)}"
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
        return rng.coalesce_ranges(found)

    def get_properties(self, container: str, blob: str) -> BlobProperties | None:
        try:
            props = self._blob(container, blob).get_blob_properties()
        except ResourceNotFoundError as exc:
            if (
                exc.error_code or ""
            ) == "ContainerNotFound" or not self._container_exists(container):
                raise StorageError(
                    f"container '{container}' does not exist in storage account '{self.account}'"
                ) from None
            return None
        except AzureError as exc:
            raise self._error(
                exc,
                f"reading the properties of {self.blob_uri(container, blob)}",
                container,
            ) from None
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
            copy = CopyState(props.copy.status, copied, total, description)
        md5 = props.content_settings.content_md5 if props.content_settings else None
        return BlobProperties(
            size_bytes=props.size,
            content_md5=bytes(md5) if md5 else None,
            metadata=dict(props.metadata or {}),
            copy=copy,
        )

    def _container_exists(self, container: str) -> bool:
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
        settings = ContentSettings(
            content_type="application/octet-stream", content_md5=bytearray(md5)
        )
        self._call(
            f"setting the Content-MD5 of {self.blob_uri(container, blob)}",
            container,
            self._blob(container, blob).set_http_headers,
            settings,
        )

    def read_range(self, container: str, blob: str, offset: int, length: int) -> bytes:
        downloader = self._call(
            f"reading {self.blob_uri(container, blob)}",
            container,
            self._blob(container, blob).download_blob,
            offset=offset,
            length=length,
            max_concurrency=1,
        )
        return self._call(
            f"reading {self.blob_uri(container, blob)}", container, downloader.readall
        )

    def delete_blob(self, container: str, blob: str) -> None:
        try:
            self._blob(container, blob).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            raise self._error(
                exc, f"deleting {self.blob_uri(container, blob)}", container
            ) from None

    # -- server-side copy --------------------------------------------------------------------------
    def read_sas_url(
        self, container: str, blob: str, lifetime: timedelta = SAS_LIFETIME
    ) -> str:
        """A URL with a short-lived read-only SAS. It is a secret: never print or log it."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        start = datetime.now(UTC) - timedelta(minutes=5)  # clock skew
        expiry = start + lifetime
        kwargs: dict[str, Any] = {
            "permission": BlobSasPermissions(read=True),
            "start": start,
            "expiry": expiry,
        }
        if self.link.account_key:
            kwargs["account_key"] = self.link.account_key.get_secret_value()
        else:
            kwargs["user_delegation_key"] = self._call(
                "getting a user delegation key",
                None,
                self._service.get_user_delegation_key,
                start,
                expiry,
            )
        token = generate_blob_sas(self.account, container, blob, **kwargs)
        self._secrets = tuple(dict.fromkeys((*self._secrets, token)))
        return f"{self._blob(container, blob).url}?{token}"

    def start_copy_from(
        self,
        container: str,
        blob: str,
        source: PageBlobStore,
        source_container: str,
        source_blob: str,
    ) -> CopyState:
        if not isinstance(source, AzurePageBlobStore):
            raise CopyRefusedError(
                f"Azure storage cannot copy server side from {source.kind} storage"
            )
        url = source.read_sas_url(source_container, source_blob)
        secrets = (*self._secrets, *source._secrets, url.split("?", 1)[1])
        what = f"copying into {self.blob_uri(container, blob)}"
        try:
            result = self._blob(container, blob).start_copy_from_url(url, retry_total=1)
        except AzureError as exc:
            error = self._error(exc, what, container)
            code = getattr(exc, "error_code", None) or ""
            if code in ("ContainerNotFound",) or (
                code in _AUTH_CODES and "CopySource" not in code
            ):
                raise error from None
            raise CopyRefusedError(
                redact(error.message, secrets), hint="falling back to a streamed copy"
            ) from None
        status = (result or {}).get("copy_status") or "pending"
        return CopyState(status)

    def copy_status(self, container: str, blob: str) -> CopyState:
        props = self.get_properties(container, blob)
        if props is None:
            raise StorageError(f"blob {self.blob_uri(container, blob)} does not exist")
        return props.copy or CopyState("success", props.size_bytes, props.size_bytes)
