"""Shared-storage client rules: NFS, GlusterFS and CIFS clients, and GlusterFS on compute."""

from __future__ import annotations

from shipyard.results import Outcome, Severity, Status
from shipyard.rules.base import Applies, Evaluate, Rule, binary_state
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence


def _tools(evidence: Evidence, needed: dict[str, tuple[str, ...]]) -> Outcome:
    """Each key is a role, satisfied by any of its binaries."""
    found: list[str] = []
    missing: list[str] = []
    unknown: list[str] = []
    for role, names in needed.items():
        state, path = binary_state(evidence, *names)
        if state:
            found.append(path or role)
        elif state is False:
            missing.append(role)
        else:
            unknown.append(role)
    if missing:
        return Outcome.bad(f"missing: {', '.join(missing)}")
    if unknown:
        return Outcome.unknown("could not read the image's binaries")
    return Outcome.ok(f"found {', '.join(found)}")


def _applies_cluster(kind: str) -> Applies:
    def applies(evidence: Evidence, pool: PoolContext) -> str | None:
        if kind in pool.storage_cluster_types or "unknown" in pool.storage_cluster_types:
            return None
        return f"no {kind} storage cluster is mounted"

    return applies


def _applies_azure_file(evidence: Evidence, pool: PoolContext) -> str | None:
    return None if pool.azure_file else "no azurefile shared data volume"


def _applies_gluster_on_compute(evidence: Evidence, pool: PoolContext) -> str | None:
    return None if pool.glusterfs_on_compute else "no glusterfs_on_compute shared data volume"


def _cluster_client(kind: str, needed: dict[str, tuple[str, ...]]) -> Evaluate:
    def evaluate(evidence: Evidence, pool: PoolContext) -> Outcome:
        outcome = _tools(evidence, needed)
        if kind in pool.storage_cluster_types or outcome.status is not Status.FAIL:
            return outcome
        # only clusters of unknown type: a missing client may be fine
        return Outcome.unknown(f"a storage cluster's type is unknown (no fs.yaml given); {outcome.message}")

    return evaluate


RULES = (
    Rule(
        "storage.nfs_client", Severity.ERROR, "an NFSv4 client when an NFS storage cluster is mounted",
        "install nfs-common (Debian/Ubuntu) or nfs-utils (RHEL family)",
        _cluster_client("nfs", {"mount.nfs4": ("mount.nfs4", "mount.nfs")}), _applies_cluster("nfs"),
    ),
    Rule(
        "storage.glusterfs_client", Severity.ERROR, "a GlusterFS client when a GlusterFS storage cluster is mounted",
        "install glusterfs-client (Debian/Ubuntu) or glusterfs-fuse (RHEL family)",
        _cluster_client("glusterfs", {"glusterfs": ("glusterfs",)}), _applies_cluster("glusterfs"),
    ),
    Rule(
        "storage.cifs_client", Severity.ERROR, "a CIFS client when an Azure File shared data volume is used",
        "install cifs-utils", lambda e, p: _tools(e, {"mount.cifs": ("mount.cifs",)}), _applies_azure_file,
    ),
    Rule(
        "glusterfs.server", Severity.ERROR, "GlusterFS server and client for a glusterfs_on_compute volume",
        "install glusterfs-server and glusterfs-client",
        lambda e, p: _tools(e, {"glusterd": ("glusterd",), "gluster": ("gluster",), "glusterfs": ("glusterfs",)}),
        _applies_gluster_on_compute,
    ),
)
