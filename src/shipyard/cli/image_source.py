"""What `image inspect` and `image check` read: a path, or a page blob read in place from a storage URI.

A storage URI is ``local://<account>/<container>/<blob>`` (the embedded local store),
``https://<account>.blob.core.windows.net/<container>/<blob>``, or an emulator's
``<blob_endpoint>/<container>/<blob>``. It must be bare (no query string: no SAS) and belong to a
storage link in the credentials (``--credentials`` or ``--configdir``), whose key (or Azure AD)
reads it: ``shipyard.storage.blob_open`` opens it, as `pool add` opens each VHD, and reports how
many bytes were read (``blob_report``; ``read_line`` words it). Storage imports happen only for a
URI.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from shipyard.cli.options import Settings
from shipyard.config.kinds import ConfigKind

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet
    from shipyard.storage.blob_device import BlobDevice

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_storage_uri(text: str) -> bool:
    """``scheme://...`` that names no existing file: a URI. An existing file is a path, whatever its
    name looks like, so paths keep working exactly as before URIs were read."""
    return bool(_URI_RE.match(text)) and not os.path.lexists(text)


def open_blob_image(settings: Settings, uri: str, config: ConfigSet | None = None) -> BlobDevice:
    """The blob ``uri`` names, opened in place with its storage link from ``config`` (else the credentials
    file the options name). Errors as ``shipyard.storage.blob_open.open_blob_device``."""
    from shipyard.storage.blob_open import open_blob_device

    if config is None:
        config = _load_credentials(settings)
    return open_blob_device(uri, config.credentials if config is not None else None)


def _load_credentials(settings: Settings) -> ConfigSet | None:
    """Only the credentials file (a broken pool or jobs file does not stop `image inspect URI`)."""
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths

    found = settings.config_paths().files.get(ConfigKind.CREDENTIALS)
    if found is None:
        return None
    config = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: found}))
    config.require(ConfigKind.CREDENTIALS)
    from shipyard.config.loader import register_encryption_from

    register_encryption_from(settings.config_paths().files.get(ConfigKind.CONFIG))  # what decrypts the credentials
    return config


def read_line(report: dict[str, Any]) -> str:
    """The ``read`` line of both commands' text output: bytes downloaded of the blob's size, and requests."""
    size, read = report["size_bytes"], report["bytes_read"]
    share = f"{100 * read / size:.3g}%" if size else "0%"
    requests = report["requests"]
    return f"{read:,} of {size:,} bytes ({share}) in {requests} request{'s' if requests != 1 else ''}"
