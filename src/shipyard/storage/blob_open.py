"""A page blob named by its bare URI, opened in place with its storage link from the credentials.

What `image inspect URI`, `image check URI` and `pool add` (each VHD of ``image_uris``) share:
the URI must be bare (no query string: no SAS) and belong to one of the credentials' storage
links, whose key (or Azure AD) reads it; an upload or copy that has not finished is no image.
Only the bytes the readers touch are downloaded (``shipyard.storage.blob_device``), and
``blob_report`` says how many.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config.blob_uri import BlobUri, BlobUriError, has_query, parse_blob_uri
from shipyard.errors import StorageError, UsageError
from shipyard.redact import strip_query

if TYPE_CHECKING:
    from shipyard.config.credentials import Credentials, StorageLink
    from shipyard.storage.blob_device import BlobDevice

_UNFINISHED_COPIES = ("pending", "failed", "aborted")


def open_blob_device(uri: str, credentials: Credentials | None, *, home: Path | str | None = None) -> BlobDevice:
    """The blob ``uri`` names, opened in place with its storage link from ``credentials``.

    A query string (a SAS), a URI of no storage link, or no credentials: one-line ``UsageError``.
    A missing blob or container, a refused key, an unfinished upload or copy: ``StorageError``.
    """
    if has_query(uri):
        raise UsageError(f"a blob URI must be bare, with no query string (no SAS): use {strip_query(uri)}",
                         hint="shipyard reads the blob with the storage link's key (or Azure AD) from the credentials")
    try:
        account = parse_blob_uri(uri).account
    except BlobUriError as exc:
        raise UsageError(f"{uri}: {exc}") from None
    return open_blob_in(uri, storage_links(credentials, uri, account), home=home)


def open_blob_in(uri: str, links: Mapping[str, StorageLink], *, home: Path | str | None = None) -> BlobDevice:
    """The blob ``uri`` names, opened with the one of ``links`` it belongs to; errors as ``open_blob_device``."""
    from shipyard.storage.blob_device import BlobDevice
    from shipyard.storage.open import open_store

    link, parsed = find_blob_link(uri, links)
    device = BlobDevice(open_store(links[link], home), parsed.container, parsed.blob)
    try:
        refuse_unfinished(device)
    except BaseException:
        device.close()
        raise
    return device


def find_blob_link(uri: str, links: Mapping[str, StorageLink]) -> tuple[str, BlobUri]:
    """The name of the one of ``links`` that a bare blob URI belongs to, and the parsed URI.

    A query string (a SAS; never echoed), a malformed URI or one of no link: one-line ``UsageError``.
    """
    if has_query(uri):
        raise UsageError(f"a blob URI must be bare, with no query string (no SAS): use {strip_query(uri)}",
                         hint="shipyard reads the blob with the storage link's key (or Azure AD) from the credentials")
    try:
        parsed = parse_blob_uri(uri, links)
    except BlobUriError as exc:
        raise UsageError(f"{uri}: {exc}") from None
    if parsed.link is None:
        raise UsageError(
            f"{uri}: storage account '{parsed.account}' is in none of the credentials' storage links",
            hint="credentials.storage has "
                 + ", ".join(f"{name} ({links[name].blob_base_url})" for name in sorted(links))
                 + f"; add a link for account '{parsed.account}' there (for an emulator, with its blob_endpoint)",
        )
    return parsed.link, parsed


def storage_links(credentials: Credentials | None, uri: str, account: str) -> dict[str, StorageLink]:
    """The credentials' storage links, or a usage error saying what to pass for ``uri``."""
    if credentials is None:
        raise UsageError(f"{uri} is a storage URI: pass --credentials FILE or --configdir DIR whose credentials "
                         f"have a storage link for account '{account}'")
    if not credentials.storage:
        raise UsageError(f"{uri}: the credentials have no storage links (credentials.storage)",
                         hint=f"add a link for account '{account}'")
    return dict(credentials.storage)


def refuse_unfinished(device: BlobDevice) -> None:
    """An upload or a copy that has not finished is no image yet: its checks would judge a part of one."""
    from shipyard.storage.upload_state import STATE_IN_PROGRESS, upload_state

    if upload_state(device.properties) == STATE_IN_PROGRESS:
        raise StorageError(f"{device.name} is an unfinished upload (metadata shipyard_upload: in_progress)",
                           hint="rerun `shipyard image upload` to finish it")
    status = device.properties.copy_status
    if status in _UNFINISHED_COPIES:
        raise StorageError(f"{device.name}: the copy into it is {status}, so it holds only a part of the image",
                           hint="wait for the copy, or rerun `shipyard image replicate`")


def blob_report(device: BlobDevice) -> dict[str, Any]:
    """What was read: the ``blob`` key of `image inspect URI --raw`, `image check URI --raw` and `pool add`."""
    return {"uri": device.name, "size_bytes": device.size_bytes, "bytes_read": device.bytes_read,
            "requests": device.requests}
