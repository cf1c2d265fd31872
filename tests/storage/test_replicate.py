"""Replication: the plan from the pool size, server-side copy, the streamed fallback, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.azurite import MIB
from fixtures.wire import WireStore
from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.replicate import (
    ReplicationProgress,
    plan_replication,
    replicate_image,
)
from shipyard.storage.open import open_store
from shipyard.storage.digest import recorded_digest
from shipyard.storage.store import CopyState
from shipyard.storage.upload import upload_page_blob
from shipyard.storage.upload_state import is_upload_complete

LINUX = "batch.node.ubuntu 22.04"
WINDOWS = "batch.node.windows amd64"
LINKS = {f"sa{i}": StorageLink(account=f"acct{i}", endpoint="local") for i in (1, 2, 3)}


@pytest.mark.parametrize(
    ("nodes", "agent", "required", "targets"),
    [
        (100, LINUX, 3, ["sa2", "sa3"]),
        (40, LINUX, 1, []),
        (41, LINUX, 2, ["sa2"]),
        (20, WINDOWS, 1, []),
        (60, WINDOWS, 3, ["sa2", "sa3"]),
    ],
)
def test_plan_from_pool_size(
    nodes: int, agent: str, required: int, targets: list[str]
) -> None:
    plan = plan_replication(
        "sa1", "vhds", "d.vhd", LINKS, nodes=nodes, node_agent=agent
    )
    assert plan.required == required
    assert [t.link for t in plan.targets] == targets
    assert plan.uris[0] == "local://acct1/vhds/d.vhd" and len(plan.uris) == required


def test_plan_counts_distinct_accounts_only() -> None:
    links = {
        "sa1": LINKS["sa1"],
        "alias": StorageLink(account="acct1", endpoint="local"),
        "sa3": LINKS["sa3"],
    }
    plan = plan_replication("sa1", "vhds", "d.vhd", links, nodes=80, node_agent=LINUX)
    assert [t.link for t in plan.targets] == ["sa3"]
    with pytest.raises(
        StorageError, match=r"120 nodes need 3 VHDs \(one per 40 nodes\) in distinct storage accounts, but only 2 are available"
    ):
        plan_replication("sa1", "vhds", "d.vhd", links, nodes=120, node_agent=LINUX)


def test_plan_windows_100_nodes_needs_5_accounts() -> None:
    with pytest.raises(StorageError, match="need 5 VHDs \\(one per 20 nodes\\)"):
        plan_replication("sa1", "vhds", "d.vhd", LINKS, nodes=100, node_agent=WINDOWS)


def test_plan_with_chosen_accounts_and_unknown_links() -> None:
    plan = plan_replication(
        "sa1", "vhds", "d.vhd", LINKS, nodes=80, node_agent=LINUX, accounts=["sa3"]
    )
    assert [t.link for t in plan.targets] == ["sa3"]
    with pytest.raises(UsageError, match="unknown storage link 'nope'"):
        plan_replication("nope", "vhds", "d.vhd", LINKS, nodes=80, node_agent=LINUX)
    with pytest.raises(UsageError, match="unknown storage link 'x'"):
        plan_replication(
            "sa1", "vhds", "d.vhd", LINKS, nodes=80, node_agent=LINUX, accounts=["x"]
        )


def _assert_identical(links, home, container, uris_links, size) -> None:
    source = open_store(links["sa1"], home)
    want = source.read_range(container, "disk.vhd", 0, size)
    for name in uris_links:
        replica = open_store(links[name], home)
        props = replica.get_properties(container, "disk.vhd")
        assert is_upload_complete(props)
        source_props = source.get_properties(container, "disk.vhd")
        assert props.content_md5 == source_props.content_md5
        assert recorded_digest(props) == recorded_digest(source_props) is not None
        assert replica.read_range(container, "disk.vhd", 0, size) == want
        assert replica.get_page_ranges(container, "disk.vhd") == source.get_page_ranges(
            container, "disk.vhd"
        )


def test_replicate_a_100_node_linux_pool_to_3_accounts(
    links, store, home: Path, container, sparse_image
) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    plan = plan_replication(
        "sa1", container, "disk.vhd", links, nodes=100, node_agent=LINUX
    )
    events: list[ReplicationProgress] = []
    result = replicate_image(
        plan, links, home=home, poll_interval_s=0, progress=events.append
    )
    assert [r.mode for r in result.replicas] == ["server_copy", "server_copy"]
    assert all(r.bytes_sent == 0 for r in result.replicas)
    assert len(result.uris) == 3 and result.uris == plan.uris
    assert sum(1 for e in events if e.finished) == 2
    read_back = {e.uri: e for e in events if e.verifying}  # the last read-back event of each replica
    assert sorted(read_back) == sorted(t.uri for t in plan.targets)
    assert all(e.bytes_done == e.bytes_total == result.replicas[0].bytes_verified for e in read_back.values())
    _assert_identical(
        links, home, container, ["sa2", "sa3"], sparse_image.stat().st_size
    )

    again = replicate_image(plan, links, home=home, poll_interval_s=0)
    assert [r.mode for r in again.replicas] == ["skipped", "skipped"]
    assert again.to_json()["replicas"][0]["mode"] == "skipped"
    data = rng.total_bytes(source_ranges := store.get_page_ranges(container, "disk.vhd"))
    assert source_ranges and all(r.bytes_verified == data for r in [*result.replicas, *again.replicas])


def test_a_replica_that_claims_to_be_identical_but_is_not_is_copied_again(
    links, store, home: Path, container, sparse_image
) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    plan = plan_replication("sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX)
    # streamed, not copied server side: in Azurite 3.35 a Put Page on a server-side copy of a page
    # blob changes the source as well (the two share their page list), so the rot would be the
    # source's too
    replicate_image(plan, links, home=home, server_copy=False)
    replica = open_store(links["sa2"], home)
    replica.put_pages(container, "disk.vhd", 20 * MIB + 512, b"\xee" * 512)  # rot, behind shipyard's back
    again = replicate_image(plan, links, home=home, poll_interval_s=0)
    assert [r.mode for r in again.replicas] == ["server_copy"]
    _assert_identical(links, home, container, ["sa2"], sparse_image.stat().st_size)


def test_a_copy_that_differs_from_the_source_is_refused_and_stays_unfinished(
    links, store, home: Path, container, sparse_image
) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    target_store = open_store(links["sa2"], home)

    def stores(link: StorageLink):  # the wire to the replica's account corrupts one Put Page
        opened = open_store(link, home)
        return WireStore(opened, corrupt_at=20 * MIB + 512) if link == links["sa2"] else opened

    plan = plan_replication("sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX)
    with pytest.raises(StorageError) as caught:
        replicate_image(plan, links, home=home, server_copy=False, store_factory=stores)
    assert str(caught.value) == (
        f"replica {plan.targets[0].uri} does not match the source after the copy: "
        f"bytes {20 * MIB + 512}-{24 * MIB} ({24 * MIB - 20 * MIB - 512:,} bytes) differ"
    )
    assert not is_upload_complete(target_store.get_properties(container, "disk.vhd"))


def test_windows_at_20_nodes_needs_no_copy(
    links, store, home: Path, container, sparse_image
) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    plan = plan_replication(
        "sa1", container, "disk.vhd", links, nodes=20, node_agent=WINDOWS
    )
    result = replicate_image(plan, links, home=home)
    assert result.replicas == [] and result.uris == [
        store.blob_uri(container, "disk.vhd")
    ]


def test_streamed_copy_sends_only_non_zero_pages(
    links, store, home: Path, container, sparse_image
) -> None:
    upload = upload_page_blob(sparse_image, store, container, "disk.vhd")
    plan = plan_replication(
        "sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX
    )
    result = replicate_image(plan, links, home=home, server_copy=False)
    assert [r.mode for r in result.replicas] == ["streamed"]
    assert result.replicas[0].bytes_sent == upload.bytes_sent
    _assert_identical(links, home, container, ["sa2"], sparse_image.stat().st_size)


def test_refused_server_copy_falls_back_to_streaming(
    azurite, home: Path, container, sparse_image
) -> None:
    # Azure cannot read a local-store source, so it refuses the copy and shipyard streams it
    links = {
        "sa1": StorageLink(account="acct1", endpoint="local"),
        "sa2": azurite.link("acct2"),
    }
    upload_page_blob(
        sparse_image, open_store(links["sa1"], home), container, "disk.vhd"
    )
    plan = plan_replication(
        "sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX
    )
    result = replicate_image(plan, links, home=home, poll_interval_s=0)
    assert [r.mode for r in result.replicas] == ["streamed"]
    assert result.to_json()["replicas"][0]["mode"] == "streamed"
    _assert_identical(links, home, container, ["sa2"], sparse_image.stat().st_size)


def test_failed_server_copy_falls_back_to_streaming(
    links, store, home: Path, container, sparse_image, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    target_store = open_store(links["sa2"], home)
    # the service accepts the copy, then reports it failed
    monkeypatch.setattr(
        type(target_store), "start_copy_from", lambda self, *a, **k: CopyState("pending")
    )
    monkeypatch.setattr(
        type(target_store),
        "copy_status",
        lambda self, c, b: CopyState("failed", description="x"),
    )
    plan = plan_replication(
        "sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX
    )
    result = replicate_image(plan, links, home=home, poll_interval_s=0)
    assert [r.mode for r in result.replicas] == ["streamed"]
    _assert_identical(links, home, container, ["sa2"], sparse_image.stat().st_size)


def test_an_unfinished_source_is_not_replicated(
    links, store, home: Path, container, sparse_image
) -> None:
    store.ensure_container(container)
    store.create_page_blob(
        container, "disk.vhd", 4096, metadata={"shipyard_upload": "in_progress"}
    )
    plan = plan_replication(
        "sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX
    )
    with pytest.raises(StorageError, match="not a finished upload"):
        replicate_image(plan, links, home=home)


def test_replicas_stay_in_the_source_subscription_and_region() -> None:
    links = {
        "src": StorageLink(account="src1", location="westeurope", subscription_id="sub-a"),
        "far": StorageLink(account="far1", location="eastus", subscription_id="sub-a"),
        "other": StorageLink(account="oth1", location="westeurope", subscription_id="sub-b"),
        "near": StorageLink(account="near1", location="West Europe"),
        "unknown": StorageLink(account="unk1"),
    }
    plan = plan_replication("src", "vhds", "img.vhd", links, nodes=120, node_agent="batch.node.ubuntu 22.04")
    assert [t.link for t in plan.targets] == ["near", "unknown"]
    with pytest.raises(StorageError, match=r"only 3 are available \(far, other in another subscription or region\)"):
        plan_replication("src", "vhds", "img.vhd", links, nodes=160, node_agent="batch.node.ubuntu 22.04")


def _as_before_the_sparse_digest(store, container: str, blob: str, image: Path) -> None:
    """What an older shipyard left: state complete and the whole image's Content-MD5, no digest."""
    import hashlib

    props = store.get_properties(container, blob)
    store.set_metadata(container, blob, {k: v for k, v in props.metadata.items() if "sparse" not in k})
    store.set_content_md5(container, blob, hashlib.md5(image.read_bytes()).digest())
    assert recorded_digest(store.get_properties(container, blob)) is None


def test_a_source_from_before_the_sparse_digest_is_replicated_with_one(
    links, store, home: Path, container, sparse_image
) -> None:
    from shipyard.storage.digest import scan_file

    upload_page_blob(sparse_image, store, container, "disk.vhd")
    _as_before_the_sparse_digest(store, container, "disk.vhd", sparse_image)
    plan = plan_replication("sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX)
    result = replicate_image(plan, links, home=home, server_copy=False)
    assert [r.mode for r in result.replicas] == ["streamed"]
    replica = open_store(links["sa2"], home).get_properties(container, "disk.vhd")
    assert is_upload_complete(replica) and recorded_digest(replica) == scan_file(sparse_image).digest
    assert replica.content_md5 == store.get_properties(container, "disk.vhd").content_md5


def test_a_source_from_before_the_sparse_digest_that_no_longer_matches_its_md5_is_not_replicated(
    links, store, home: Path, container, sparse_image
) -> None:
    """Its Content-MD5 is all that says what it holds: a replica must not get a digest of the
    rotted content, nor that Content-MD5 over content it is not the MD5 of."""
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    _as_before_the_sparse_digest(store, container, "disk.vhd", sparse_image)
    store.put_pages(container, "disk.vhd", 20 * MIB + 512, b"\xee" * 512)  # rot, after its upload
    plan = plan_replication("sa1", container, "disk.vhd", links, nodes=80, node_agent=LINUX)
    with pytest.raises(StorageError, match="does not match its Content-MD5"):
        replicate_image(plan, links, home=home, server_copy=False)
    replica = open_store(links["sa2"], home)
    replica.ensure_container(container)
    assert not is_upload_complete(replica.get_properties(container, "disk.vhd"))
