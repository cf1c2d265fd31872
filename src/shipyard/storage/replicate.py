"""Replicate an uploaded image across storage accounts: one VHD per 40 Linux or 20 Windows nodes.

- :func:`plan_replication`: K = ``required_vhd_count(nodes, node_agent)`` distinct accounts among
  the credentials' storage links, the source's account counting as one.
- :func:`replicate_image`: per target, in parallel: skip an identical replica (same size and
  sparse digest, marked complete); else a server-side copy (``start_copy_from_url`` with a
  short-lived read SAS of the source, never printed or logged), polled to the end; where the
  target service refuses (or fails) it, a streamed copy of the source's non-zero pages only.
  Every replica, skipped ones included, is then verified as an upload is: its sparse digest
  recomputed from its page ranges and ranged reads (:func:`shipyard.storage.verify.verify_blob`)
  must equal the source's. A copy is marked ``in_progress`` until it is verified; a skipped
  replica that fails is copied again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shipyard.catalog.vhd_policy import nodes_per_vhd, required_vhd_count
from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.content_md5 import blob_md5
from shipyard.storage.open import open_store
from shipyard.storage.store import BlobProperties, CopyRefusedError, PageBlobStore
from shipyard.storage.digest import (
    SparseScan,
    describe_ranges,
    differing_ranges,
    digest_metadata,
    recorded_digest,
    scan_blob,
)
from shipyard.storage.pages import PageSender, UploadProgress, send_runs
from shipyard.storage.upload_state import (
    STATE_COMPLETE,
    STATE_IN_PROGRESS,
    STATE_KEY,
    is_upload_complete,
)

log = logging.getLogger(__name__)

ReplicaMode = Literal["server_copy", "streamed", "skipped"]


@dataclass(frozen=True)
class ReplicaTarget:
    link: str
    account: str
    uri: str


@dataclass(frozen=True)
class ReplicationPlan:
    source_link: str
    source_uri: str
    container: str
    blob: str
    nodes: int
    node_agent: str
    required: int  # K, the number of VHDs the pool needs (the source included)
    targets: tuple[ReplicaTarget, ...]  # K - 1 accounts other than the source's

    @property
    def uris(self) -> list[str]:
        """The image URIs the pool should list: the source first."""
        return [self.source_uri, *(t.uri for t in self.targets)]


@dataclass(frozen=True)
class ReplicaResult:
    link: str
    uri: str
    mode: ReplicaMode
    bytes_sent: int  # bytes this machine sent (0 for a server-side copy)
    seconds: float
    bytes_verified: int = 0  # bytes read back to verify it


@dataclass(frozen=True)
class ReplicationResult:
    source_uri: str
    uris: list[str]
    replicas: list[ReplicaResult]

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source_uri,
            "uris": self.uris,
            "replicas": [
                {
                    "link": r.link,
                    "uri": r.uri,
                    "mode": r.mode,
                    "bytes_sent": r.bytes_sent,
                    "bytes_verified": r.bytes_verified,
                    "seconds": r.seconds,
                }
                for r in self.replicas
            ],
        }


@dataclass(frozen=True)
class ReplicationProgress:
    uri: str
    mode: ReplicaMode
    bytes_done: int
    bytes_total: int
    finished: bool = False
    verifying: bool = False  # reading the replica back (bytes of its written ranges)


def _account_key(link: StorageLink) -> str:
    return link.blob_base_url.lower()


def _same_place(source: StorageLink, target: StorageLink) -> bool:
    """Same subscription and region as the source, where both links say (unknown is no objection)."""
    for field in ("subscription_id", "location"):
        mine, theirs = getattr(source, field), getattr(target, field)
        if mine and theirs and mine.replace(" ", "").lower() != theirs.replace(" ", "").lower():
            return False
    return True


def plan_replication(
    source_link: str,
    container: str,
    blob: str,
    links: Mapping[str, StorageLink],
    *,
    nodes: int,
    node_agent: str,
    accounts: Sequence[str] | None = None,
) -> ReplicationPlan:
    """Choose the K - 1 target accounts; ``accounts`` limits and orders the candidates."""
    if source_link not in links:
        raise UsageError(
            f"unknown storage link '{source_link}'",
            hint="storage links are listed in credentials.yaml",
        )
    unknown = [name for name in accounts or () if name not in links]
    if unknown:
        raise UsageError(
            f"unknown storage link '{unknown[0]}'",
            hint="storage links are listed in credentials.yaml",
        )
    required = max(1, required_vhd_count(nodes, node_agent))
    source = links[source_link]
    seen = {_account_key(source)}
    targets: list[ReplicaTarget] = []
    elsewhere: list[str] = []
    for name in accounts if accounts is not None else list(links):
        link = links[name]
        if len(targets) >= required - 1 or _account_key(link) in seen:
            continue
        if not _same_place(source, link):
            elsewhere.append(name)
            continue
        seen.add(_account_key(link))
        targets.append(
            ReplicaTarget(
                name, link.account, f"{link.blob_base_url}/{container}/{blob}"
            )
        )
    if len(targets) < required - 1:
        skipped = f" ({', '.join(elsewhere)} in another subscription or region)" if elsewhere else ""
        raise StorageError(
            f"{nodes} nodes need {required} VHDs (one per {nodes_per_vhd(node_agent)} nodes) in distinct "
            f"storage accounts, but only {len(targets) + 1} are available{skipped}",
            hint="add storage accounts (same subscription and region) to credentials.yaml, or lower the node count",
        )
    return ReplicationPlan(
        source_link,
        f"{source.blob_base_url}/{container}/{blob}",
        container,
        blob,
        nodes,
        node_agent,
        required,
        tuple(targets),
    )


def _same_image(props: BlobProperties | None, source: BlobProperties, digest: str) -> bool:
    return (
        props is not None
        and is_upload_complete(props)
        and props.size_bytes == source.size_bytes
        and recorded_digest(props) == digest
    )


class _Source:
    """The source image: its properties, its digest, and (only if a replica differs) its runs."""

    def __init__(self, store: PageBlobStore, plan: ReplicationPlan, parallelism: int) -> None:
        self.store, self.plan, self.parallelism = store, plan, parallelism
        props = store.get_properties(plan.container, plan.blob)
        if props is None:
            raise StorageError(f"source image {plan.source_uri} does not exist")
        if not is_upload_complete(props):
            raise StorageError(
                f"source image {plan.source_uri} is not a finished upload",
                hint="rerun image upload to complete it",
            )
        self.props = props
        self._scan: SparseScan | None = None
        self._lock = threading.Lock()
        digest = recorded_digest(props)
        if digest is None:  # uploaded before the sparse digest: compute it from the source
            log.info("%s records no sparse digest: computing it from the blob", plan.source_uri)
            # and the source must be what its Content-MD5 says (that is all it has to say so)
            md5 = props.content_md5
            if md5 is not None and blob_md5(store, plan.container, plan.blob, props.size_bytes) != md5:
                raise StorageError(
                    f"source image {plan.source_uri} does not match its Content-MD5: it changed "
                    "after its upload",
                    hint="upload the image again (image upload --overwrite)",
                )
            digest = self.scan().digest
        self.digest = digest

    def scan(self) -> SparseScan:
        with self._lock:
            if self._scan is None:
                self._scan = scan_blob(
                    self.store, self.plan.container, self.plan.blob, parallelism=self.parallelism,
                    size_bytes=self.props.size_bytes,
                )
            return self._scan


def replicate_image(
    plan: ReplicationPlan,
    links: Mapping[str, StorageLink],
    *,
    home: Path | None = None,
    parallelism: int = 4,
    progress: Callable[[ReplicationProgress], None] | None = None,
    poll_interval_s: float = 2.0,
    server_copy: bool = True,
    store_factory: Callable[[StorageLink], PageBlobStore] | None = None,
) -> ReplicationResult:
    """Make every target of ``plan`` a verified copy of the source; see the module docstring.

    ``server_copy=False`` streams every replica (the fallback, on purpose).
    """
    factory = store_factory or (lambda link: open_store(link, home))
    source = _Source(factory(links[plan.source_link]), plan, parallelism)
    source_props = source.props
    unfinished = {**source_props.metadata, **digest_metadata(source.digest), STATE_KEY: STATE_IN_PROGRESS}

    def one(target: ReplicaTarget) -> ReplicaResult:
        began = time.monotonic()
        store = factory(links[target.link])
        mode: ReplicaMode = "skipped"
        sent = verified = 0
        store.ensure_container(plan.container)
        if _same_image(store.get_properties(plan.container, plan.blob), source_props, source.digest):
            verified, problem = _verify(store, plan, target, source, mode, progress)
            if problem is None:
                log.info("replica %s is identical to the source (verified): skipped", target.uri)
            else:
                log.warning("replica %s claims to be the source's copy, but %s: copying it again", target.uri, problem)
                mode = "server_copy"
        else:
            mode = "server_copy"
        if mode != "skipped":
            if not server_copy or not _server_copy(
                store, source.store, plan, target, source_props, unfinished, progress, poll_interval_s
            ):
                mode = "streamed"
                log.info("replica %s: streaming the source's non-zero pages through this machine", target.uri)
                sent = _streamed_copy(store, source.store, plan, target, source_props, unfinished, progress)
            verified, problem = _verify(store, plan, target, source, mode, progress)
            if problem is not None:
                raise StorageError(f"replica {target.uri} does not match the source after the copy: {problem}")
            final = store.get_properties(plan.container, plan.blob)
            if source_props.content_md5 is not None and (final is None or final.content_md5 != source_props.content_md5):
                store.set_content_md5(plan.container, plan.blob, source_props.content_md5)
            store.set_metadata(plan.container, plan.blob, {**unfinished, STATE_KEY: STATE_COMPLETE})
        if progress is not None:
            progress(
                ReplicationProgress(
                    target.uri,
                    mode,
                    source_props.size_bytes,
                    source_props.size_bytes,
                    True,
                )
            )
        return ReplicaResult(
            target.link, target.uri, mode, sent, round(time.monotonic() - began, 3), verified
        )

    results: list[ReplicaResult] = []
    if plan.targets:
        with ThreadPoolExecutor(
            max_workers=max(1, min(parallelism, len(plan.targets)))
        ) as pool:
            results = list(pool.map(one, plan.targets))
    return ReplicationResult(plan.source_uri, plan.uris, results)


def _verify(
    store: PageBlobStore, plan: ReplicationPlan, target: ReplicaTarget, source: _Source, mode: ReplicaMode,
    progress: Callable[[ReplicationProgress], None] | None,
) -> tuple[int, str | None]:
    """Bytes read, and what is wrong with the replica (None: its sparse digest is the source's)."""
    props = store.get_properties(plan.container, plan.blob)
    if props is None or props.size_bytes != source.props.size_bytes:
        return 0, "its size differs"

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(ReplicationProgress(target.uri, mode, done, total, verifying=True))

    scan = scan_blob(store, plan.container, plan.blob, parallelism=source.parallelism, progress=report,
                     size_bytes=props.size_bytes)
    if scan.digest == source.digest:
        return scan.bytes_read, None
    ranges = differing_ranges(source.scan().runs, scan.runs)
    return scan.bytes_read, f"{describe_ranges(ranges)} differ" if ranges else "its sparse digest differs"


def _server_copy(
    store: PageBlobStore,
    source: PageBlobStore,
    plan: ReplicationPlan,
    target: ReplicaTarget,
    source_props: BlobProperties,
    metadata: dict[str, str],
    progress: Callable[[ReplicationProgress], None] | None,
    poll_interval_s: float,
) -> bool:
    """True when the service copied it; False when it refused or the copy failed (stream instead)."""
    try:
        state = store.start_copy_from(
            plan.container, plan.blob, source, plan.container, plan.blob, metadata=metadata
        )
    except CopyRefusedError:
        return False
    while state.status == "pending":
        if progress is not None:
            total = state.bytes_total or source_props.size_bytes
            progress(
                ReplicationProgress(
                    target.uri, "server_copy", state.bytes_copied or 0, total
                )
            )
        time.sleep(poll_interval_s)
        state = store.copy_status(plan.container, plan.blob)
    return state.status == "success"


def _streamed_copy(
    store: PageBlobStore,
    source: PageBlobStore,
    plan: ReplicationPlan,
    target: ReplicaTarget,
    source_props: BlobProperties,
    metadata: dict[str, str],
    progress: Callable[[ReplicationProgress], None] | None,
) -> int:
    """Copy the source's non-zero pages through this machine (the replica is verified after)."""
    size = source_props.size_bytes
    store.create_page_blob(
        plan.container, plan.blob, size, overwrite=True, metadata=metadata
    )
    ranges = source.get_page_ranges(plan.container, plan.blob)
    log.info(
        "streaming %d ranges (%s bytes) of %s to %s",
        len(ranges), f"{rng.total_bytes(ranges):,}", plan.source_uri, target.uri,
    )

    def report(event: UploadProgress) -> None:
        if progress is not None:
            progress(ReplicationProgress(target.uri, "streamed", event.bytes_done, size))

    sender = send_runs(
        lambda offset, length: source.read_range(plan.container, plan.blob, offset, length), ranges, size, (),
        PageSender(store, plan.container, plan.blob, size, 4, report), f"short read of {plan.source_uri}",
    )
    return sender.bytes_sent
