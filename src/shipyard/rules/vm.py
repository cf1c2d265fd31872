"""The pool's VM size: one the catalogue knows, so that the size-dependent rules can decide."""

from __future__ import annotations

from shipyard.catalog.vm_sizes import closest_vm_sizes, known_vm_sizes, vm_size_features
from shipyard.results import Outcome, Severity
from shipyard.rules.base import Rule
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence


def _size_given(evidence: Evidence, pool: PoolContext) -> str | None:
    return None if pool.vm_size is not None else "no VM size given (pool spec or --vm-size)"


def _size_known(evidence: Evidence, pool: PoolContext) -> Outcome:
    size = pool.vm_size or ""
    if pool.vm_size_known:
        features = vm_size_features(size)
        gpu = "NVIDIA GPU" if features.nvidia_gpu else ("AMD GPU" if features.amd_gpu else "no GPU")
        rdma = ("SR-IOV RDMA" if features.sriov_rdma else "RDMA") if features.rdma else "no RDMA"
        return Outcome.ok(f"{known_vm_sizes()[features.name]}: {gpu}, {rdma}")
    closest = closest_vm_sizes(size)
    hint = f"; closest: {', '.join(closest)}" if closest else ""
    shown = size if size.strip() else f"{size!r} (empty)"
    return Outcome.bad(
        f"{shown} is not a known Azure VM size: the GPU and RDMA rules cannot tell what it needs{hint}"
    )


RULES = (
    Rule(
        "vm.size_known", Severity.WARNING, "the pool's vm_size is an Azure VM size shipyard knows",
        "correct vm_size in pool.yaml (or --vm-size) to an Azure size name, e.g. Standard_NC6s_v3; "
        "`az vm list-sizes --location REGION` lists them",
        _size_known, _size_given,
    ),
)
