"""Page-blob URIs: parse the three forms shipyard accepts and match them to storage links.

- Azure: ``https://<account>.blob.<endpoint>/<container>/<blob>``
- An emulator such as Azurite: ``<blob_endpoint>/<container>/<blob>``, where the link's
  ``blob_endpoint`` is e.g. ``http://127.0.0.1:10000/<account>``
- The embedded local store: ``local://<account>/<container>/<blob>`` (``endpoint: local``)

Pure (no I/O, no SDK), so config rules can check ``image_uris`` without importing ``storage``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from shipyard.config.credentials import StorageLink

_CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class BlobUri:
    account: str
    container: str
    blob: str
    link: str | None = None  # the storage link name it belongs to, when known


class BlobUriError(ValueError):
    """A URI that is not a usable page-blob URI. The message never contains the query."""


def has_query(uri: str) -> bool:
    """Whether ``uri`` carries more than a place: a query (a SAS), a fragment, or a user's password."""
    if "?" in uri or "#" in uri:
        return True
    _, sep, rest = uri.partition("://")
    return bool(sep) and "@" in rest.split("/", 1)[0]


def split_container_blob(path: str, uri_kind: str) -> tuple[str, str]:
    parts = path.lstrip("/").split("/", 1)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise BlobUriError(f"{uri_kind} URI must name a container and a blob: .../<container>/<blob>")
    container, blob = parts[0], unquote(parts[1])
    if container != "$root" and not _CONTAINER_RE.match(container):
        raise BlobUriError(
            f"'{container}' is not a valid container name "
            "(3-63 lowercase letters, digits and single hyphens)"
        )
    return container, blob


def parse_blob_uri(uri: str, links: Mapping[str, StorageLink] | None = None) -> BlobUri:
    """Parse ``uri`` (which must have no query string) and find its storage link if ``links``.

    Without ``links`` only the account, container and blob are read from the URI itself.
    """
    if has_query(uri):
        raise BlobUriError("URI has a query string, a fragment or a password: give the bare URI")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise BlobUriError("not a valid URI") from None
    scheme = parts.scheme.lower()

    for name, link in (links or {}).items():
        if link.blob_endpoint:
            base = link.blob_endpoint.rstrip("/") + "/"
            if uri.startswith(base):
                container, blob = split_container_blob(uri[len(base) - 1 :], "blob")
                return BlobUri(link.account, container, blob, name)

    if scheme == "local":
        account = parts.netloc
        container, blob = split_container_blob(parts.path, "local store")
        for name, link in (links or {}).items():
            if link.is_local and link.account == account:
                return BlobUri(account, container, blob, name)
        return BlobUri(account, container, blob)

    if scheme not in ("https", "http"):
        raise BlobUriError(f"unsupported scheme '{parts.scheme}': use https://, or local:// for the local store")
    host = (parts.hostname or "").lower()
    if ".blob." in host:
        account, suffix = host.split(".blob.", 1)
        container, blob = split_container_blob(parts.path, "blob")
        for name, link in (links or {}).items():
            # an Azure URI names an Azure account: never a link that points at the local store or an emulator
            if (link.account.lower() == account and link.endpoint.lower() == suffix and not link.is_local
                    and not link.blob_endpoint):
                return BlobUri(account, container, blob, name)
        return BlobUri(account, container, blob)
    # path-style (emulator) URI: http://host:port/<account>/<container>/<blob>
    segments = parts.path.lstrip("/").split("/", 1)
    if len(segments) < 2:
        raise BlobUriError("blob URI must be https://<account>.blob.<endpoint>/<container>/<blob>")
    container, blob = split_container_blob(segments[1], "blob")
    return BlobUri(segments[0], container, blob)
