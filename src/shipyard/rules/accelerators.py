"""GPU and RDMA rules, for the VM sizes that have them."""

from __future__ import annotations

from shipyard.facts.model import KernelModuleFacts
from shipyard.results import Outcome, Severity
from shipyard.rules.base import Evaluate, Rule, binary_state
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence

TOOLKIT_PACKAGES = ("nvidia-container-toolkit", "nvidia-docker2", "nvidia-container-runtime", "libnvidia-container-tools")
# packages that carry (or build) the NVIDIA kernel driver, by name prefix: Ubuntu's nvidia-driver-535[-server],
# nvidia-dkms-*, linux-modules-nvidia-*, NVIDIA's cuda-drivers / nvidia-open, RHEL's kmod-nvidia*
DRIVER_PACKAGE_PREFIXES = (
    "nvidia-driver", "nvidia-dkms", "nvidia-kernel", "nvidia-open", "nvidia-kmod", "kmod-nvidia",
    "linux-modules-nvidia", "cuda-drivers",
)


def _gpu_pool(evidence: Evidence, pool: PoolContext) -> str | None:
    if pool.gpu or (pool.gpu is None and pool.vm_size is not None):
        return None  # a GPU size, or a size the catalogue does not know: the rule must say
    if pool.gpu is None:
        return "no VM size given (pool spec or --vm-size)"
    return f"{pool.vm_size} has no NVIDIA GPU"


def _rdma_pool(evidence: Evidence, pool: PoolContext) -> str | None:
    if pool.rdma or (pool.rdma is None and pool.vm_size is not None):
        return None
    if pool.rdma is None:
        return "no VM size given (pool spec or --vm-size)"
    return f"{pool.vm_size} is not an RDMA size"


def _size_dependent(feature: str, evaluate: Evaluate) -> Evaluate:
    """``evaluate``, unless the pool's size is not in the catalogue: then nobody knows whether
    the rule applies, and the result is ``unknown`` (never a skip that reads as "no GPU")."""

    def checked(evidence: Evidence, pool: PoolContext) -> Outcome:
        if getattr(pool, feature) is None:
            return Outcome.unknown(f"{pool.vm_size!r} is not a known VM size: whether it needs this cannot be decided")
        return evaluate(evidence, pool)

    return checked


def driver_packages(evidence: Evidence) -> list[str] | None:
    """The installed packages that carry an NVIDIA kernel driver; None when packages are unreadable."""
    packages = evidence.facts.packages
    if packages is None:
        return None
    return sorted(name for name in packages.versions if name.startswith(DRIVER_PACKAGE_PREFIXES))


def _no_kernel_driver(evidence: Evidence, modules: KernelModuleFacts) -> Outcome:
    """No boot kernel at all: fail when nothing of an NVIDIA driver is in the image either."""
    with_module = [k.version for k in modules.kernels if modules.has_module("nvidia", k.version)]
    packages = driver_packages(evidence)
    smi, smi_path = binary_state(evidence, "nvidia-smi")
    found = [f"an nvidia module for kernel {v}" for v in with_module]
    found += [f"package {p}" for p in packages or ()]
    found += [f"{smi_path}"] if smi else []
    if found:
        return Outcome.unknown(
            f"no boot kernel found, so no module to check for it; the image has {', '.join(found)}"
        )
    if packages is None or smi is None:
        return Outcome.unknown("no kernel found, and the image's packages or binaries could not be read")
    return Outcome.bad(
        "no NVIDIA driver at all: no kernel (no /lib/modules/<version>) and no nvidia module, "
        "no NVIDIA driver package installed, no nvidia-smi"
    )


def _gpu_driver(evidence: Evidence, pool: PoolContext) -> Outcome:
    probes = evidence.probes
    if probes is not None and probes.nvidia_module_loaded is not None:
        if not probes.nvidia_module_loaded:
            return Outcome.bad("the nvidia kernel module is not loaded (/proc/modules)")
        if probes.nvidia_smi_ok is False:
            return Outcome.bad("the nvidia module is loaded but nvidia-smi fails")
        version = f" {probes.nvidia_driver_version}" if probes.nvidia_driver_version else ""
        smi = ", nvidia-smi runs" if probes.nvidia_smi_ok else ""
        return Outcome.ok(f"NVIDIA driver{version} loaded{smi}")
    modules = evidence.facts.kernel_modules
    if modules is None:
        return Outcome.unknown("could not read the installed kernels' modules")
    kernel = modules.kernel()
    if kernel is None:
        return _no_kernel_driver(evidence, modules)
    if modules.is_blacklisted("nvidia"):
        return Outcome.bad("the nvidia module is blacklisted in modprobe.d: it will not load on boot")
    if not modules.has_module("nvidia"):
        return Outcome.bad(f"no nvidia kernel module for the boot kernel {kernel.version}")
    path = next(p for n, p in kernel.modules.items() if n.replace("-", "_").startswith("nvidia"))
    return Outcome.ok(f"nvidia module for kernel {kernel.version}: {path}")


def _gpu_runtime(evidence: Evidence, pool: PoolContext) -> Outcome:
    cli, cli_path = binary_state(evidence, "nvidia-container-cli", "nvidia-docker")
    packages = evidence.facts.packages
    package = next((p for p in TOOLKIT_PACKAGES if packages and packages.has(p)), None)
    if not cli and not package:
        if cli is None and packages is None:
            return Outcome.unknown("could not read the image's binaries or packages")
        return Outcome.bad("neither nvidia-container-toolkit nor nvidia-docker is installed")
    docker = evidence.facts.docker
    services = evidence.facts.services
    if docker is not None and "nvidia" in docker.runtimes:
        return Outcome.ok(f"{cli_path or package} installed; docker runtime 'nvidia' registered")
    if services is not None and services.is_enabled("nvidia-docker.service"):
        return Outcome.ok(f"{cli_path or package} installed; nvidia-docker.service starts on boot")
    if docker is None and services is None:
        return Outcome.unknown(f"{cli_path or package} installed; docker runtime configuration unreadable")
    return Outcome.bad(f"{cli_path or package} installed, but no 'nvidia' runtime in /etc/docker/daemon.json")


def _rdma_driver(evidence: Evidence, pool: PoolContext) -> Outcome:
    probes = evidence.probes
    if probes is not None and probes.infiniband_uverbs is not None:
        return Outcome.ok("/dev/infiniband/uverbs0 exists") if probes.infiniband_uverbs else Outcome.bad(
            "/dev/infiniband/uverbs0 does not exist"
        )
    if not pool.sriov_rdma:
        waagent = evidence.facts.waagent
        if waagent is None or waagent.os_enable_rdma is None:
            return Outcome.unknown("OS.EnableRDMA in /etc/waagent.conf could not be read")
        if waagent.os_enable_rdma:
            return Outcome.ok("OS.EnableRDMA=y: waagent sets up the Network Direct RDMA driver")
        return Outcome.bad(f"{pool.vm_size} uses Network Direct RDMA, but OS.EnableRDMA is not y in /etc/waagent.conf")
    modules = evidence.facts.kernel_modules
    if modules is None:
        return Outcome.unknown("could not read the installed kernels' modules")
    kernel = modules.kernel()
    if kernel is None:
        return Outcome.bad("no kernel found (no /lib/modules/<version>): no InfiniBand kernel stack")
    missing = [m for m in ("ib_uverbs", "rdma_ucm") if not modules.has_module(m)]
    if not (modules.has_module("mlx5_ib") or modules.has_module("mlx4_ib")):
        missing.insert(0, "mlx5_ib/mlx4_ib")
    if missing:
        return Outcome.bad(f"kernel {kernel.version} lacks {', '.join(missing)}")
    return Outcome.ok(f"InfiniBand kernel stack present for kernel {kernel.version}")


def _rdma_userland(evidence: Evidence, pool: PoolContext) -> Outcome:
    wanted = ("ibv_devinfo", "ofed_info") if pool.sriov_rdma else ("ibv_devinfo",)
    states = {name: binary_state(evidence, name)[0] for name in wanted}
    packages = evidence.facts.packages
    verbs = packages.has("libibverbs1", "libibverbs", "rdma-core") if packages else None
    rdmacm = packages.has("librdmacm1", "librdmacm", "rdma-core") if packages else None
    missing = [name for name, state in states.items() if state is False]
    missing += [lib for lib, state in (("libibverbs", verbs), ("librdmacm", rdmacm)) if state is False]
    if missing:
        return Outcome.bad(f"RDMA user-land missing: {', '.join(missing)}")
    if None in states.values() or verbs is None:
        return Outcome.unknown("could not read the image's binaries or packages")
    return Outcome.ok(f"RDMA user-land present: {', '.join(wanted)}, libibverbs, librdmacm")


RULES = (
    Rule(
        "gpu.driver", Severity.ERROR,
        "on GPU sizes: an NVIDIA kernel driver for the image's kernel, not blacklisted, so it loads on boot",
        "install the NVIDIA driver for the boot kernel (e.g. nvidia-driver-535-server / cuda-drivers)",
        _size_dependent("gpu", _gpu_driver), _gpu_pool,
    ),
    Rule(
        "gpu.container_runtime", Severity.ERROR,
        "on GPU sizes: nvidia-container-toolkit (or nvidia-docker) installed and registered with docker",
        "install nvidia-container-toolkit, then: nvidia-ctk runtime configure --runtime=docker",
        _size_dependent("gpu", _gpu_runtime), _gpu_pool,
    ),
    Rule(
        "rdma.driver", Severity.ERROR,
        "on RDMA sizes: the InfiniBand/RDMA kernel stack (OS.EnableRDMA=y for Network Direct sizes)",
        "install the Mellanox OFED or rdma-core kernel modules (mlx5_ib, ib_uverbs, rdma_ucm); "
        "set OS.EnableRDMA=y in /etc/waagent.conf for A8/A9/H16r",
        _size_dependent("rdma", _rdma_driver), _rdma_pool,
    ),
    Rule(
        "rdma.userland", Severity.ERROR, "on RDMA sizes: ibverbs, rdmacm and the OFED tools",
        "install rdma-core, libibverbs-utils (ibv_devinfo) and librdmacm; Mellanox OFED for ofed_info",
        _size_dependent("rdma", _rdma_userland), _rdma_pool,
    ),
)
