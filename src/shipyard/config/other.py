"""``fs.yaml`` (storage clusters), and the blocks that fs, monitor, federation and slurm share.

shipyard reads storage clusters from ``fs.yaml`` (their file server type decides which client
a node needs). ``monitor.yaml``, ``federation.yaml`` and ``slurm.yaml`` are in ``config.services``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from shipyard.config.base import Model, Text


class VmSsh(Model):
    username: str
    ssh_public_key: str | None = None
    ssh_public_key_data: str | None = None
    ssh_private_key: str | None = None
    generated_file_export_path: str | None = None


class PublicIp(Model):
    enabled: bool | None = None
    static: bool | None = None


class VnetSubnet(Model):
    name: str
    address_prefix: str


class VmVirtualNetwork(Model):
    name: str
    resource_group: str | None = None
    existing_ok: bool | None = None
    address_space: str | None = None
    subnet: VnetSubnet | None = None


class InboundRule(Model):
    destination_port_range: str
    protocol: Literal["*", "tcp", "udp"] | None = None
    source_address_prefix: list[str]


class NetworkSecurity(Model):
    ssh: list[str]
    custom_inbound_rules: dict[Text, InboundRule] | None = None


class DiskPerformance(Model):
    iops_read_write: int = Field(ge=100)
    mbps_read_write: int = Field(ge=1)


class ManagedDisks(Model):
    sku: Literal["standard_lrs", "premium_lrs", "standard_ssd_lrs", "ultra_ssd_lrs"]
    disk_size_gb: int
    resource_group: str | None = None
    disk_provisioned_performance: DiskPerformance | None = None
    disk_names: list[str] | None = None


class FsNetworkSecurity(NetworkSecurity):
    nfs: list[str] | None = None
    glusterfs: list[str] | None = None
    smb: list[str] | None = None


class GlusterOptions(Model):
    # any other key is a GlusterFS volume option (``performance.cache-size: 1GB``): a string
    open_keys: ClassVar[bool] = True
    __pydantic_extra__: dict[str, str] = Field(init=False)

    transport: Literal["tcp"] | None = None
    volume_name: str | None = None
    volume_type: Literal["distributed", "replica", "stripe"] | None = None


class ServerOptions(Model):
    nfs: dict[str, list[str]] | None = None
    glusterfs: GlusterOptions | None = None


class SambaAccount(Model):
    username: str
    password: SecretStr
    uid: int
    gid: int


class Samba(Model):
    share_name: str
    account: SambaAccount | None = None
    read_only: bool | None = None
    create_mask: str | None = None
    directory_mask: str | None = None


class FileServer(Model):
    type: Literal["nfs", "glusterfs"]
    mountpoint: str
    mount_options: list[str] | None = None
    server_options: ServerOptions | None = None
    samba: Samba | None = None


class VmDisks(Model):
    disk_array: list[str] | None = None
    filesystem: Literal["btrfs", "ext2", "ext3", "ext4", "xfs"] | None = None
    raid_level: int | None = None


class NodeExporter(Model):
    enabled: bool | None = None
    port: int | None = None
    options: list[str] | None = None


class ClusterPrometheus(Model):
    node_exporter: NodeExporter | None = None


class StorageCluster(Model):
    hostname_prefix: str
    ssh: VmSsh
    virtual_network: VmVirtualNetwork
    network_security: FsNetworkSecurity
    vm_count: int
    vm_size: str
    resource_group: str | None = None
    public_ip: PublicIp | None = None
    file_server: FileServer | None = None
    fault_domains: int | None = None
    accelerated_networking: bool | None = None
    vm_disk_map: dict[Text, VmDisks] | None = None
    prometheus: ClusterPrometheus | None = None


class RemoteFs(Model):
    location: str
    resource_group: str | None = None
    zone: int | None = Field(default=None, ge=1)
    managed_disks: ManagedDisks | None = None
    storage_clusters: dict[str, StorageCluster] = Field(default_factory=dict)


class FsFile(Model):
    remote_fs: RemoteFs

