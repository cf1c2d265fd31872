"""The Azure store's block blobs: ``put_blob`` (Put Blob, or Put Block and Put Block List for a
large one, as the SDK chooses) and ``list_blobs`` (List Blobs).

Mixed into :class:`~shipyard.storage.azure.AzurePageBlobStore`, whose client, retries, logging
and error mapping they use: every SDK failure is one line with the account's secrets redacted.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobType

from shipyard.errors import StorageError
from shipyard.storage.store import BlobData, BlobItem

log = logging.getLogger("shipyard.storage.azure")


class _Store(Protocol):
    """What the mixin uses of :class:`~shipyard.storage.azure.AzurePageBlobStore`."""

    where: str
    account_url: str
    _service: Any

    def blob_uri(self, container: str, blob: str) -> str: ...
    def _blob(self, container: str, blob: str) -> Any: ...
    def _error(self, exc: Exception, what: str, container: str | None = None) -> StorageError: ...


class AzureBlockBlobs:
    """``put_blob`` and ``list_blobs`` of the Azure store."""

    def put_blob(
        self: _Store,
        container: str,
        blob: str,
        data: BlobData,
        *,
        overwrite: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        uri = self.blob_uri(container, blob)
        what = f"uploading {uri}"
        client = self._blob(container, blob)
        kwargs: dict[str, Any] = {"blob_type": BlobType.BLOCKBLOB, "overwrite": overwrite,
                                  "metadata": dict(metadata or {})}
        name = "" if isinstance(data, bytes | bytearray | memoryview) else os.fspath(data)
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                log.info("%s (%s bytes)", what, f"{len(data):,}")
                client.upload_blob(bytes(data), length=len(data), **kwargs)
                return
            try:
                source = open(name, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise StorageError(f"cannot read {name} for {uri}: {exc.strerror or exc}") from None
            with source:
                size = os.fstat(source.fileno()).st_size
                log.info("%s from %s (%s bytes)", what, name, f"{size:,}")
                client.upload_blob(source, length=size, **kwargs)  # seekable: a retry reads it again
        except ResourceExistsError:
            raise StorageError(f"blob {uri} already exists") from None
        except AzureError as exc:
            raise self._error(exc, what, container) from None
        except OSError as exc:  # the file broke off while the SDK read it
            raise StorageError(f"{what}: reading {name} failed: {exc.strerror or exc}") from None

    def list_blobs(self: _Store, container: str, prefix: str = "") -> list[BlobItem]:
        what = f"listing the blobs of container '{container}' in {self.where}"
        log.info("%s%s", what, f" under '{prefix}'" if prefix else "")
        try:
            items = self._service.get_container_client(container).list_blobs(name_starts_with=prefix or None)
            found = [BlobItem(item.name, int(item.size or 0)) for item in items]  # pages are fetched here
        except AzureError as exc:
            raise self._error(exc, what, container) from None
        return sorted(found, key=lambda item: item.name)
