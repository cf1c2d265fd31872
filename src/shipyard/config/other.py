"""The other Batch Shipyard files: ``fs.yaml``, ``monitor.yaml``, ``federation.yaml``, ``slurm.yaml``.

shipyard reads storage clusters from ``fs.yaml`` (their file server type decides which client
a node needs); the rest is typed at the top level only and kept whole.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shipyard.config.base import Model


class FileServer(Model):
    type: Literal["nfs", "glusterfs"]
    mountpoint: str | None = None


class StorageCluster(Model):
    file_server: FileServer | None = None
    vm_count: int | None = None
    vm_size: str | None = None


class RemoteFs(Model):
    resource_group: str | None = None
    location: str | None = None
    managed_disks: dict[str, Any] | None = None
    storage_clusters: dict[str, StorageCluster] = Field(default_factory=dict)


class FsFile(Model):
    remote_fs: RemoteFs


class MonitorFile(Model):
    monitoring: dict[str, Any]


class FederationFile(Model):
    federation: dict[str, Any]


class SlurmFile(Model):
    slurm: dict[str, Any]
