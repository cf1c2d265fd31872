"""The page-blob store interface that upload and replication use, and the few block-blob calls task output needs.

Two implementations: :class:`~shipyard.storage.azure.AzurePageBlobStore` (the official SDK; Azure
or an emulator such as Azurite) and :class:`~shipyard.storage.local.LocalPageBlobStore` (the
embedded store: sparse files under the shipyard home). :func:`shipyard.storage.open.open_store`
picks one by the storage link's ``endpoint``; this module imports neither.

Ranges are half-open ``(start, end)`` byte ranges everywhere (Azure's own are inclusive; the Azure
store converts). ``content_md5`` is the raw 16-byte digest.

Block blobs (``put_blob``, ``list_blobs``) are for files that are not VHDs: a task's
``output_files``, of any size, not 512-aligned. They share the page blobs' namespace (one name,
one blob of either type) and are read back with ``get_properties`` and ``read_range``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import Literal, Protocol, runtime_checkable

from shipyard.errors import StorageError

CopyStatus = Literal["pending", "success", "aborted", "failed"]
BlobType = Literal["PageBlob", "BlockBlob"]
BlobData = bytes | PathLike[str]  # the bytes themselves, or the path of a file (a Path) to read them from


@dataclass(frozen=True)
class CopyState:
    status: CopyStatus
    bytes_copied: int | None = None
    bytes_total: int | None = None
    description: str | None = None  # already redacted


@dataclass(frozen=True)
class BlobProperties:
    size_bytes: int
    content_md5: bytes | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    copy: CopyState | None = None  # the last copy into this blob, if any
    blob_type: BlobType = "PageBlob"

    @property
    def copy_status(self) -> CopyStatus | None:
        return self.copy.status if self.copy else None


@dataclass(frozen=True)
class BlobItem:
    """One blob of a listing."""

    name: str
    size_bytes: int


class CopyRefusedError(StorageError):
    """The target service refused a server-side copy (e.g. it cannot reach the source).

    Replication answers this by streaming the non-zero ranges itself.
    """


@runtime_checkable
class PageBlobStore(Protocol):
    """One storage account's page blobs. Every method raises :class:`StorageError` on failure."""

    account: str
    kind: str  # "azure" or "local"

    def blob_uri(self, container: str, blob: str) -> str:
        """The bare URI (no query string) of a blob: what goes into ``image_uris``."""
        ...

    def ensure_container(self, container: str) -> None: ...

    def create_page_blob(
        self,
        container: str,
        blob: str,
        size_bytes: int,
        *,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Create an empty (all-zero) page blob; ``size_bytes`` must be a multiple of 512."""
        ...

    def put_pages(
        self,
        container: str,
        blob: str,
        offset: int,
        data: bytes,
        md5: bytes | None = None,
    ) -> None:
        """Write ``data`` (≤ 4 MiB, 512-aligned) at ``offset``; ``md5`` is checked by the service."""
        ...

    def clear_pages(self, container: str, blob: str, offset: int, length: int) -> None:
        """Clear ``length`` bytes at ``offset`` (512-aligned, ≤ 4 MiB): they read as zeros and are no
        longer among the page ranges."""
        ...

    def get_page_ranges(self, container: str, blob: str) -> list[tuple[int, int]]:
        """The blob's written ranges, coalesced and sorted."""
        ...

    def get_properties(self, container: str, blob: str) -> BlobProperties | None:
        """The blob's properties; None when the blob does not exist (a missing container raises)."""
        ...

    def set_metadata(self, container: str, blob: str, metadata: dict[str, str]) -> None:
        """Replace all of the blob's metadata."""
        ...

    def set_content_md5(self, container: str, blob: str, md5: bytes) -> None:
        """Set the blob's Content-MD5, keeping its other HTTP headers (content type, cache control…)."""
        ...

    def read_range(
        self, container: str, blob: str, offset: int, length: int
    ) -> bytes: ...

    def delete_blob(self, container: str, blob: str) -> None:
        """Delete the blob; a missing blob is not an error."""
        ...

    def put_blob(
        self,
        container: str,
        blob: str,
        data: BlobData,
        *,
        overwrite: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Write a whole block blob: ``data`` (bytes) or the file at that path, any size.

        The blob appears complete or not at all. ``overwrite=False`` refuses an existing blob
        (of either type); the container must exist.
        """
        ...

    def list_blobs(self, container: str, prefix: str = "") -> list[BlobItem]:
        """The container's blobs (both types) whose names start with ``prefix``, sorted by name."""
        ...

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
        """Start a server-side copy of ``source``'s blob (content, Content-MD5 and metadata) here.

        ``metadata``: the copy's metadata instead of the source's.

        Raises :class:`CopyRefusedError` when this service will not copy from that source.
        """
        ...

    def copy_status(self, container: str, blob: str) -> CopyState: ...

