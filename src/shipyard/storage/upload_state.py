"""Where an upload stands, from a blob's properties: ``shipyard_upload`` and what completes it.

``in_progress`` from the blob's creation until the very end; ``complete`` once every page is sent
(and, with ``--verify``, read back) and the sparse digest is recorded. Upload, verification,
replication and the readers of blobs (``blob_open``) share these few names.
"""

from __future__ import annotations

from shipyard.storage.digest import recorded_digest
from shipyard.storage.store import BlobProperties

STATE_KEY = "shipyard_upload"
STATE_IN_PROGRESS = "in_progress"
STATE_COMPLETE = "complete"


def upload_state(props: BlobProperties | None) -> str | None:
    """``in_progress``, ``complete``, or None for a blob shipyard did not upload (or no blob)."""
    if props is None:
        return None
    return {k.lower(): v for k, v in props.metadata.items()}.get(STATE_KEY)


def is_upload_complete(props: BlobProperties | None) -> bool:
    """True only for a finished upload: state complete, its digest recorded, no copy unfinished.

    A blob from before the sparse digest counts with its Content-MD5 instead.
    """
    return (
        upload_state(props) == STATE_COMPLETE
        and props is not None
        and (recorded_digest(props) is not None or props.content_md5 is not None)
        and props.copy_status in (None, "success")
    )
