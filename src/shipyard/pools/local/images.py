"""The facts of the image a node boots from: read once per VHD of a pool, shared by its nodes.

The first node that needs a VHD's facts takes that VHD's lock, reads the image's root in place
through the storage link that the pool's credentials name for its URI (only the bytes the
readers touch are downloaded: ``shipyard.storage.blob_device``) and records the evidence in the
state database; the pool's other nodes, and every reboot, read it from there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.facts.evidence import Evidence, ImageReport
from shipyard.facts.model import Facts
from shipyard.image.azure import AzureProblem
from shipyard.pools.local.layout import Layout
from shipyard.pools.local.state import StateDB

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink


def encode_evidence(evidence: Evidence) -> str:
    image = evidence.image
    return json.dumps({
        "facts": evidence.facts.model_dump(mode="json"),
        "image": None if image is None else {"format": image.format, "problems": [asdict(p) for p in image.problems]},
    })


def decode_evidence(text: str) -> Evidence:
    data: dict[str, Any] = json.loads(text)
    image = data.get("image")
    report = None
    if image is not None:
        report = ImageReport(image["format"], tuple(AzureProblem(**p) for p in image["problems"]))
    return Evidence(facts=Facts.model_validate(data["facts"]), image=report)


def image_evidence(
    db: StateDB, layout: Layout, pool_id: str, node_id: str, uri: str, links: dict[str, StorageLink]
) -> tuple[Evidence, str]:
    """The evidence of ``uri``'s image and a line saying where it came from (read now, or cached)."""
    cached = _cached(db, pool_id, uri)
    if cached is not None:
        return cached
    lock_path = layout.image_lock(pool_id, hashlib.sha256(uri.encode()).hexdigest()[:24])
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the pool's other nodes wait here for the one reading it
        cached = _cached(db, pool_id, uri)
        if cached is not None:
            return cached
        evidence, bytes_read, requests = _read_image(uri, links, layout.home)
        with db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO images (pool_id, uri, evidence, read_by, bytes_read, requests, "
                         "read_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (pool_id, uri, encode_evidence(evidence), node_id, bytes_read, requests, time.time()))
    return evidence, f"read {bytes_read:,} bytes of the image in {requests} requests"


def _cached(db: StateDB, pool_id: str, uri: str) -> tuple[Evidence, str] | None:
    rows = db.query("SELECT evidence, read_by FROM images WHERE pool_id = ? AND uri = ?", (pool_id, uri))
    if not rows:
        return None
    return decode_evidence(rows[0]["evidence"]), f"the image's facts as node {rows[0]['read_by']} read them"


def _read_image(uri: str, links: dict[str, StorageLink], home: Path) -> tuple[Evidence, int, int]:
    from shipyard.checks.image import inspect_image
    from shipyard.storage.blob_open import open_blob_in

    # bare, of one of the pool's links, and a finished upload or copy: what `image check URI` requires
    with open_blob_in(uri, links, home=home) as device:
        inspection = inspect_image(device)
        return inspection.evidence, device.bytes_read, device.requests
