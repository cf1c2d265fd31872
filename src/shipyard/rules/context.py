"""The pool-side inputs of the rules, derived from the config files (or command-line overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.catalog.vm_sizes import is_known_vm_size, vm_size_features

if TYPE_CHECKING:  # the config models are imported only by whoever loaded a config
    from shipyard.config.loader import ConfigSet
    from shipyard.config.other import RemoteFs
    from shipyard.config.pool import PoolSpecification
    from shipyard.config.settings import GeneralConfig


@dataclass(frozen=True)
class PoolContext:
    """Everything a rule's ``applies`` may ask about the pool. ``None``: not known."""

    known: bool = False  # a pool spec (or --vm-size) was given
    vm_size: str | None = None
    # the size is in the VM size catalogue; None: no size given. An unknown size leaves gpu/rdma None.
    vm_size_known: bool | None = None
    node_agent: str | None = None
    gpu: bool | None = None
    rdma: bool | None = None
    sriov_rdma: bool | None = None
    storage_cluster_types: frozenset[str] = field(default_factory=frozenset)  # "nfs", "glusterfs", "unknown"
    azure_file: bool = False
    glusterfs_on_compute: bool = False
    node_communication_mode: str = "classic"
    ssh: bool = True  # Batch opens SSH on Linux nodes unless the pool denies it

    @classmethod
    def from_config(
        cls, config: ConfigSet | None, *, vm_size: str | None = None, node_agent: str | None = None
    ) -> PoolContext:
        """From a loaded ``ConfigSet`` (any part may be missing, or none given) and overrides.

        The node communication mode is the one the backend gives the pool: when ``pool.yaml``
        does not set it, simplified on Azure and classic on the local backend.
        """
        if config is None:
            return cls.from_models(vm_size=vm_size, node_agent=node_agent)
        mode = None
        if config.pool is not None:
            # a pool means the config was loaded, so this import costs nothing more
            from shipyard.config.backend import node_communication_mode

            derived = node_communication_mode(config)  # unset: simplified on Azure, classic locally
            mode = derived["mode"] if derived else None
        return cls.from_models(
            config.pool, config.general, config.remote_fs, vm_size=vm_size, node_agent=node_agent,
            communication_mode=mode,
        )

    @classmethod
    def from_models(
        cls,
        pool: PoolSpecification | None = None,
        general: GeneralConfig | None = None,
        remote_fs: RemoteFs | None = None,
        *,
        vm_size: str | None = None,
        node_agent: str | None = None,
        communication_mode: str | None = None,
    ) -> PoolContext:
        """From the typed config models (each may be missing) and overrides.

        ``vm_size`` and ``node_agent`` win over the pool's. ``communication_mode`` is the mode
        the backend derives (``shipyard.config.backend.node_communication_mode``); None leaves
        the pool's own, and without a pool the stricter classic mode of the guide's model.
        """
        # --vm-size wins; pool.yaml's vm_size goes through the same catalogue check, even when empty
        size = vm_size if vm_size is not None else (pool.vm_size if pool else None)
        agent = node_agent
        if agent is None and pool and pool.vm_configuration.custom_image:
            agent = pool.vm_configuration.custom_image.node_agent
        gpu = rdma = sriov = None
        size_known = None if size is None else is_known_vm_size(size)
        if size is not None and size_known:
            features = vm_size_features(size)
            gpu, rdma, sriov = features.nvidia_gpu, features.rdma, features.sriov_rdma
        if pool and pool.gpu and pool.gpu.nvidia_driver:
            gpu = True
        cluster_types: set[str] = set()
        azure_file = gluster_on_compute = False
        volumes = general.global_resources.volumes.shared_data_volumes if general else {}
        for name, volume in volumes.items():
            if volume.volume_driver == "storage_cluster":
                cluster = remote_fs.storage_clusters.get(name) if remote_fs else None
                server = cluster.file_server if cluster else None
                cluster_types.add(server.type if server else "unknown")
            elif volume.volume_driver == "azurefile":
                azure_file = True
            elif volume.volume_driver == "glusterfs_on_compute":
                gluster_on_compute = True
        mode = "classic"  # the guide's model: the stricter firewall requirement when nothing says
        if pool is not None:
            mode = communication_mode or pool.node_communication_mode
        ssh = True
        if pool and pool.remote_access_control:
            rac = pool.remote_access_control
            ssh = not ("*" in (rac.deny or []) and not rac.allow)
        return cls(
            known=bool(pool) or vm_size is not None,
            vm_size=size,
            vm_size_known=size_known,
            node_agent=agent,
            gpu=gpu,
            rdma=rdma,
            sriov_rdma=sriov,
            storage_cluster_types=frozenset(cluster_types),
            azure_file=azure_file,
            glusterfs_on_compute=gluster_on_compute,
            node_communication_mode=mode,
            ssh=ssh,
        )
