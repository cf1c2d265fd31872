"""Open the page-blob store a storage link names: local for ``endpoint: local``, else Azure.

The factory lives apart from :mod:`shipyard.storage.store` (the protocol), so the protocol imports
none of its implementations. Each implementation is imported only when it is opened: the local
store never pays for the Azure SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.config.paths import shipyard_home

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink
    from shipyard.storage.store import PageBlobStore


def open_store(
    link: StorageLink, home: Path | str | None = None, **options: object
) -> PageBlobStore:
    """The store for a storage link: local for ``endpoint: local``, else Azure (or an emulator).

    ``options`` go to the Azure store (``retry_total``, ``initial_backoff_s``, ``transport``, ...).
    """
    if link.is_local and not link.blob_endpoint:
        from shipyard.storage.local import LocalPageBlobStore

        return LocalPageBlobStore(link.account, shipyard_home(home) / "storage")
    from shipyard.storage.azure import AzurePageBlobStore

    return AzurePageBlobStore(link, **options)  # type: ignore[arg-type]
