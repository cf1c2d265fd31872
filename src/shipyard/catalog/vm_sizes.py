"""Which Azure VM sizes have NVIDIA GPUs or RDMA (InfiniBand), from the size name alone.

Azure size names follow ``Standard_<family><vcpus>[-<constrained>]<features>[_<accelerator>][_v<n>]``;
the feature letter ``r`` marks RDMA on the H and N families, and A8/A9 are the classic RDMA sizes.
GPU families are NC, ND, NV (and NCC); the AMD-GPU sizes among them (NVv4, NGads, MI300X) have no
NVIDIA driver to check.

A name that parses is not necessarily a size Azure offers: ``vm_sizes.json`` lists the sizes
shipyard knows, and a size outside it has unknown features (``is_known_vm_size``,
``closest_vm_sizes``).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_SIZE_RE = re.compile(
    r"^(?P<family>[a-z]+)(?P<vcpus>\d+)(?:-\d+)?(?P<features>[a-z]*)(?:_(?P<rest>[a-z0-9_]+))?$"
)
_GPU_FAMILIES = ("nc", "ncc", "nd", "nv", "ng")
_AMD_GPU = re.compile(r"(^|_)(mi\d+x|v620)(_|$)")
_RDMA_FAMILIES = ("h", "hb", "hc", "hx", "nc", "nd")
_CLASSIC_RDMA = {"a8", "a9"}
# SR-IOV InfiniBand (Mellanox ConnectX, OFED userland) rather than the legacy Network Direct stack
_SRIOV_RDMA_FAMILIES = ("hb", "hc", "hx")


@dataclass(frozen=True)
class VmSizeFeatures:
    name: str  # normalised: lower case, without the "standard_" prefix
    known_form: bool  # the name parsed as an Azure size name
    nvidia_gpu: bool
    amd_gpu: bool
    rdma: bool
    sriov_rdma: bool

    @property
    def gpu(self) -> bool:
        return self.nvidia_gpu or self.amd_gpu


def normalise_vm_size(vm_size: str) -> str:
    name = vm_size.strip().lower()
    return name[len("standard_") :] if name.startswith("standard_") else name


def vm_size_features(vm_size: str) -> VmSizeFeatures:
    name = normalise_vm_size(vm_size)
    match = _SIZE_RE.match(name)
    if match is None:
        return VmSizeFeatures(name, False, False, False, False, False)
    family, features, rest = match["family"], match["features"], match["rest"] or ""
    gpu_family = family in _GPU_FAMILIES
    amd = gpu_family and (
        family == "ng" or bool(_AMD_GPU.search(rest)) or (family == "nv" and rest.endswith("v4"))
    )
    rdma = name in _CLASSIC_RDMA or (family in _RDMA_FAMILIES and "r" in features)
    # H16r/H16mr are legacy Network Direct; NCv3/NDv2 and newer "r" sizes use SR-IOV as well
    sriov = rdma and (family in _SRIOV_RDMA_FAMILIES or (family in ("nc", "nd") and bool(rest)))
    return VmSizeFeatures(name, True, gpu_family and not amd, amd, rdma, sriov)


@cache
def known_vm_sizes() -> dict[str, str]:
    """Every size in the catalogue: normalised name -> the name as Azure spells it."""
    text = resources.files("shipyard.catalog").joinpath("vm_sizes.json").read_text("utf-8")
    return {normalise_vm_size(size): size for series in json.loads(text)["series"] for size in series["sizes"]}


def is_known_vm_size(vm_size: str) -> bool:
    """Whether the size is in the catalogue (case and the ``Standard_`` prefix do not matter)."""
    return normalise_vm_size(vm_size) in known_vm_sizes()


def closest_vm_sizes(vm_size: str, count: int = 3) -> list[str]:
    """The catalogue's sizes closest to ``vm_size`` by spelling, best first, as Azure spells them."""
    known = known_vm_sizes()
    name = normalise_vm_size(vm_size)
    matches = difflib.get_close_matches(name, list(known), n=count, cutoff=0.6)
    if not matches:  # nothing close in spelling: the sizes of the same family, if any
        family = _SIZE_RE.match(name)
        prefix = family["family"] if family else name[:2]
        matches = sorted(n for n in known if prefix and n.startswith(prefix))[:count]
    return [known[m] for m in matches]
