"""The Packer plan of a pool: which base, which variant, which inputs, so that the image satisfies
exactly the rules that `image check` and `pool add` will apply to that pool.

- **base**: ``--base``, else the one the pool's node agent serves (``batch.node.ubuntu 22.04`` ->
  ``ubuntu-22.04``); the node agent follows the base, and a pool naming another agent is refused.
- **variant**: a GPU size (``gpu.driver``, ``gpu.container_runtime``) selects ``gpu``, an RDMA size
  (``rdma.driver``, ``rdma.userland``) ``rdma``, with NVIDIA's OFED on the SR-IOV sizes (whose
  ``rdma.userland`` asks for ``ofed_info``); otherwise ``base``.
- **storage clients**: the base variant carries the NFSv4, GlusterFS and CIFS clients whatever the
  pool mounts; :func:`needed_clients` says which of them the config's storage clusters and Azure
  File volumes need (``storage.*`` rules), for the plan's report; a ``glusterfs_on_compute`` volume
  adds the GlusterFS server (``glusterfs.server``).
- **communication**: the pool's node communication mode (classic opens 29876-29877 inbound).
- **gallery**: the subscription, the Batch account's resource group and region, where the
  credentials say them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shipyard.catalog.vm_sizes import is_known_vm_size, vm_size_features
from shipyard.config.backend import node_communication_mode
from shipyard.config.credentials import region_from_url
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import ConfigError, ShipyardError, UsageError
from shipyard.packer.template import BASES, CLIENTS, Plan, render_template, render_variables

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
TEMPLATE, VARIABLES = "shipyard.pkr.hcl", "variables.pkr.hcl"


def base_for(node_agent: str) -> str | None:
    agent = node_agent.strip().lower()
    return next((name for name, base in BASES.items() if base.node_agent == agent), None)


def variant_for(vm_size: str) -> tuple[str, bool]:
    """(the variant, whether its RDMA is SR-IOV: NVIDIA's OFED) for a VM size."""
    if not vm_size or not is_known_vm_size(vm_size):
        return "base", False
    features = vm_size_features(vm_size)
    return ("gpu" if features.nvidia_gpu else "rdma" if features.rdma else "base"), features.sriov_rdma


def needed_clients(config: ConfigSet) -> dict[str, list[str]]:
    """client -> the shared data volumes that need it (a storage cluster of an unknown type needs both)."""
    needed: dict[str, list[str]] = {}
    general, remote = config.general, config.remote_fs
    volumes = general.global_resources.volumes.shared_data_volumes if general else {}
    for name, volume in volumes.items():
        if volume.volume_driver == "azurefile":
            needed.setdefault("cifs", []).append(name)
        elif volume.volume_driver == "glusterfs_on_compute":  # the nodes serve it too (glusterfs.server)
            needed.setdefault("glusterfs", []).append(name)
            needed.setdefault("glusterfs-server", []).append(name)
        elif volume.volume_driver == "storage_cluster":
            cluster = remote.storage_clusters.get(name) if remote else None
            kinds = [cluster.file_server.type] if cluster and cluster.file_server else ["nfs", "glusterfs"]
            for kind in kinds:
                needed.setdefault(kind, []).append(name)
    return needed


def plan_for(config: ConfigSet, base: str | None = None) -> Plan:
    """The plan of ``config``'s pool (pool.yaml required; the credentials name the gallery)."""
    config.require(ConfigKind.POOL)
    pool = config.pool
    assert pool is not None
    image = pool.vm_configuration.custom_image
    agent = image.node_agent if image else ""
    name = base or base_for(agent)
    if name is None:
        where = config.files[ConfigKind.POOL].location(("pool_specification", "vm_configuration", "custom_image",
                                                        "node_agent"))
        raise ConfigError(f"node agent {agent or '(none)'} is not one a template serves "
                          f"({', '.join(b.node_agent for b in BASES.values())})", file=where.file, line=where.line,
                          path=where.path, hint="set one of them, or pass --base")
    if name not in BASES:
        raise UsageError(f"--base {name}: expected one of {', '.join(BASES)}")
    mode = node_communication_mode(config) or {}
    variant, sriov = variant_for(pool.vm_size)
    clients = CLIENTS + (("glusterfs-server",) if "glusterfs-server" in needed_clients(config) else ())
    plan = Plan(BASES[name], variant, mode.get("mode") or "simplified", clients, ofed=sriov)
    credentials = config.credentials
    if credentials is not None:
        batch = credentials.batch
        management = credentials.management
        url = batch.account_service_url if batch else None
        plan = replace(plan, subscription_id=management.subscription_id if management else None,
                       gallery_resource_group=batch.resource_group if batch else None,
                       location=region_from_url(url) if url and url.startswith("https://") else None)
    return plan


def write_plan(plan: Plan, out: Path, *, overwrite: bool = False) -> list[Path]:
    """The template, its variables and a copy of the scripts in ``out`` (refused when not empty)."""
    import shutil

    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UsageError(f"{out} exists and is not empty", hint="choose another --out, or pass --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / TEMPLATE).write_text(render_template(plan))
        (out / VARIABLES).write_text(render_variables(plan))
        scripts = out / "scripts"
        shutil.rmtree(scripts, ignore_errors=True)
        shutil.copytree(SCRIPTS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    except OSError as exc:
        raise ShipyardError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
    return [out / TEMPLATE, out / VARIABLES, *sorted((out / "scripts").iterdir())]
