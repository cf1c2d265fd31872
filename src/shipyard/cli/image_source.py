"""What `image inspect` and `image check` read: a path, or a page blob read in place from a storage URI.

A storage URI is ``local://<account>/<container>/<blob>`` (the embedded local store),
``https://<account>.blob.core.windows.net/<container>/<blob>``, or an emulator's
``<blob_endpoint>/<container>/<blob>``. It must be bare (no query string: no SAS) and belong to a
storage link in the credentials (``--credentials`` or ``--configdir``), whose key (or Azure AD)
reads it. Only the bytes the readers touch are downloaded (``shipyard.storage.blob_device``); the
commands report how many (``blob_report``). Storage imports happen only for a URI.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from shipyard.cli.options import Settings
from shipyard.config.kinds import ConfigKind
from shipyard.errors import StorageError, UsageError
from shipyard.redact import strip_query

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink
    from shipyard.config.loader import ConfigSet
    from shipyard.storage.blob_device import BlobDevice

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_UNFINISHED_COPIES = ("pending", "failed", "aborted")


def is_storage_uri(text: str) -> bool:
    """``scheme://...`` that names no existing file: a URI. An existing file is a path, whatever its
    name looks like, so paths keep working exactly as before URIs were read."""
    return bool(_URI_RE.match(text)) and not os.path.lexists(text)


def open_blob_image(settings: Settings, uri: str, config: ConfigSet | None = None) -> BlobDevice:
    """The blob ``uri`` names, opened in place with its storage link from ``config`` (else the credentials).

    A query string (a SAS), a URI of no storage link, or no credentials: one-line ``UsageError``.
    A missing blob or container, a refused key, an unfinished upload or copy: ``StorageError``.
    """
    from shipyard.storage.blob_device import BlobDevice
    from shipyard.storage.open import open_store
    from shipyard.config.blob_uri import BlobUriError, has_query, parse_blob_uri

    if has_query(uri):
        raise UsageError(f"a blob URI must be bare, with no query string (no SAS): use {strip_query(uri)}",
                         hint="shipyard reads the blob with the storage link's key (or Azure AD) from the credentials")
    try:
        account = parse_blob_uri(uri).account
        links = _storage_links(settings, config, uri, account)
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
    device = BlobDevice(open_store(links[parsed.link]), parsed.container, parsed.blob)
    _refuse_unfinished(device)
    return device


def _storage_links(settings: Settings, config: ConfigSet | None, uri: str, account: str) -> dict[str, StorageLink]:
    if config is None:
        config = _load_credentials(settings)
    credentials = config.credentials if config is not None else None
    if credentials is None:
        raise UsageError(f"{uri} is a storage URI: pass --credentials FILE or --configdir DIR whose credentials "
                         f"have a storage link for account '{account}'")
    if not credentials.storage:
        raise UsageError(f"{uri}: the credentials have no storage links (credentials.storage)",
                         hint=f"add a link for account '{account}'")
    return dict(credentials.storage)


def _load_credentials(settings: Settings) -> ConfigSet | None:
    """Only the credentials file (a broken pool or jobs file does not stop `image inspect URI`)."""
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths

    found = settings.config_paths().files.get(ConfigKind.CREDENTIALS)
    if found is None:
        return None
    config = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: found}))
    config.require(ConfigKind.CREDENTIALS)
    return config


def _refuse_unfinished(device: BlobDevice) -> None:
    """An upload or a copy that has not finished is no image yet: its checks would judge a part of one."""
    from shipyard.storage.upload import STATE_IN_PROGRESS, upload_state

    if upload_state(device.properties) == STATE_IN_PROGRESS:
        raise StorageError(f"{device.name} is an unfinished upload (metadata shipyard_upload: in_progress)",
                           hint="rerun `shipyard image upload` to finish it")
    status = device.properties.copy_status
    if status in _UNFINISHED_COPIES:
        raise StorageError(f"{device.name}: the copy into it is {status}, so it holds only a part of the image",
                           hint="wait for the copy, or rerun `shipyard image replicate`")


def blob_report(device: BlobDevice) -> dict[str, Any]:
    """The ``blob`` key of `image inspect URI --raw` and `image check URI --raw`."""
    return {"uri": device.name, "size_bytes": device.size_bytes, "bytes_read": device.bytes_read,
            "requests": device.requests}


def read_line(report: dict[str, Any]) -> str:
    """The ``read`` line of both commands' text output: bytes downloaded of the blob's size, and requests."""
    size, read = report["size_bytes"], report["bytes_read"]
    share = f"{100 * read / size:.3g}%" if size else "0%"
    requests = report["requests"]
    return f"{read:,} of {size:,} bytes ({share}) in {requests} request{'s' if requests != 1 else ''}"
