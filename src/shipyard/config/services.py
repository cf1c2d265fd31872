"""``monitor.yaml``, ``federation.yaml`` and ``slurm.yaml``: the service VMs Batch Shipyard deploys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shipyard.config.base import Model, Text
from shipyard.config.other import NetworkSecurity, PublicIp, VmSsh, VmVirtualNetwork


class ServiceVm(Model):
    """What every service VM block has: where it lives and how it is reached."""

    ssh: VmSsh
    virtual_network: VmVirtualNetwork
    network_security: NetworkSecurity
    vm_size: str
    public_ip: PublicIp | None = None
    accelerated_networking: bool | None = None


class MonitorNetworkSecurity(NetworkSecurity):
    grafana: list[str]
    prometheus: list[str] | None = None


class LetsEncrypt(Model):
    enabled: bool
    use_staging_environment: bool | None = None


class PrometheusService(Model):
    port: int | None = None
    scrape_interval: str | None = None


class GrafanaService(Model):
    # the schema requires at least one ``<name>.json`` dashboard once the key is written, but its
    # own template writes ``additional_dashboards: {}``
    additional_dashboards: dict[str, str] | None = None


class MonitorServices(Model):
    resource_polling_interval: int | None = None
    lets_encrypt: LetsEncrypt | None = None
    prometheus: PrometheusService | None = None
    grafana: GrafanaService | None = None


class Monitoring(ServiceVm):
    location: str
    resource_group: str
    hostname_prefix: str
    network_security: MonitorNetworkSecurity
    services: MonitorServices


class MonitorFile(Model):
    monitoring: Monitoring


class PollingInterval(Model):
    federations: int | None = None
    actions: int | None = None


class ProxyLogging(Model):
    persistence: bool | None = None
    level: Literal["debug", "info", "warning", "error", "critical"] | None = None
    filename: str | None = None


class AfterSuccess(Model):
    blackout_interval: int | None = None
    evaluate_autoscale: bool | None = None


class Scheduling(Model):
    after_success: AfterSuccess | None = None


class ProxyOptions(Model):
    polling_interval: PollingInterval | None = None
    logging: ProxyLogging | None = None
    scheduling: Scheduling | None = None


class Federation(ServiceVm):
    storage_account_settings: str
    location: str
    resource_group: str
    hostname_prefix: str
    proxy_options: ProxyOptions | None = None


class FederationFile(Model):
    federation: Federation


class SlurmController(ServiceVm):
    vm_count: int = Field(ge=1, le=3)
    additional_prep_script: str | None = None


class SlurmLogin(ServiceVm):
    vm_count: int = Field(ge=1)
    additional_prep_script: str | None = None


class SlurmVolume(Model):
    # The schema requires ``host_mount_path``; Batch Shipyard's own template writes ``mount_path``
    # (the unknown-key warning names the right key).
    host_mount_path: str | None = None
    store_slurmctld_state: bool


class BatchPool(Model):
    compute_node_type: Literal["dedicated", "low_priority"]
    max_compute_nodes: int = Field(ge=1)
    weight: int = Field(ge=0)
    account_service_url: str | None = None
    features: list[Text] | None = None
    reclaim_exclude_num_nodes: int | None = Field(default=None, ge=0)


class ElasticPartition(Model):
    batch_pools: dict[Text, BatchPool]
    default: bool
    max_runtime_limit: str | None = None
    preempt_type: str | None = None
    preempt_mode: str | None = None
    over_subscribe: str | None = None
    priority_tier: int | None = None
    # a string; Batch Shipyard's template writes ``other_options: []``, read as "not set"
    other_options: str | None = None

    @field_validator("other_options", mode="before")
    @classmethod
    def _empty_list_unset(cls, value: object) -> object:
        return None if value == [] else value


class UnmanagedPartition(Model):
    partition: str
    nodes: list[str]


class SlurmOptions(Model):
    elastic_partitions: dict[Text, ElasticPartition]
    idle_reclaim_time: str | None = None
    unmanaged_partitions: list[UnmanagedPartition] | None = None


class Slurm(Model):
    storage_account_settings: str
    location: str
    resource_group: str
    cluster_id: str
    controller: SlurmController
    login: SlurmLogin
    shared_data_volumes: dict[Text, SlurmVolume] = Field(min_length=1)
    slurm_options: SlurmOptions


class SlurmFile(Model):
    slurm: Slurm
