"""``pool.yaml``: all of ``pool_specification`` (Batch Shipyard's schema, both eras).

``custom_image`` takes the VHD era's ``image_uris`` or today's ``arm_image_id``. Cross-field
rules (exactly one image source, VHD counts, storage links) live in ``rules.config`` so that
each reports its own key path; the models here only type what is written.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shipyard.config.base import Float, Model, NonBlank, Text
from shipyard.config.data import PoolInputData, ResourceFile

NodeCommunicationMode = Literal["classic", "simplified"]
LEGACY_NODE_PREP_KEYS = (
    "additional_node_prep_commands",
    "additional_node_prep_commands_pre",
    "additional_node_prep_commands_post",
)


class PlatformImage(Model):
    publisher: str
    offer: str
    sku: Text
    version: str | None = None
    native: bool | None = None
    license_type: Literal["windows_server"] | None = None


class CustomImage(Model):
    image_uris: list[str] | None = None
    arm_image_id: str | None = None
    node_agent: str
    native: bool | None = None
    license_type: Literal["windows_server"] | None = None


class VmConfiguration(Model):
    platform_image: PlatformImage | None = None
    custom_image: CustomImage | None = None


class VmCount(Model):
    dedicated: int = Field(default=0, ge=0)
    low_priority: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        return self.dedicated + self.low_priority


class MaxVmCount(Model):
    dedicated: int | None = None
    low_priority: int | None = None

    @property
    def total(self) -> int:
        return (self.dedicated or 0) + (self.low_priority or 0)


class Weekdays(Model):
    """0 is Monday, 6 is Sunday."""

    start: int = Field(ge=0, le=6)
    end: int = Field(ge=0, le=6)


class WorkHours(Model):
    start: int = Field(ge=0, le=23)
    end: int = Field(ge=0, le=23)


class TimeRanges(Model):
    weekdays: Weekdays | None = None
    work_hours: WorkHours | None = None


class AutoscaleScenario(Model):
    name: Literal[
        "active_tasks",
        "pending_tasks",
        "workday",
        "workday_with_offpeak_max_low_priority",
        "weekday",
        "weekend",
    ]
    maximum_vm_count: MaxVmCount | None = None
    maximum_vm_increment_per_evaluation: MaxVmCount | None = None
    node_deallocation_option: Literal["requeue", "retaineddata", "taskcompletion", "terminate"] | None = None
    sample_lookback_interval: str | None = None
    required_sample_percentage: Float | None = Field(default=None, ge=0, le=100)
    bias_last_sample: bool | None = None
    bias_node_type: Literal["dedicated", "low_priority"] | None = None
    rebalance_preemption_percentage: Float | None = Field(default=None, ge=0, le=100)
    time_ranges: TimeRanges | None = None


class Autoscale(Model):
    evaluation_interval: str | None = None
    scenario: AutoscaleScenario | None = None
    formula: str | None = None


class Ssh(Model):
    username: str
    expiry_days: int | None = Field(default=None, ge=0)
    ssh_public_key: str | None = None
    ssh_public_key_data: str | None = None
    ssh_private_key: str | None = None
    generate_docker_tunnel_script: bool | None = None
    generated_file_export_path: str | None = None
    hpn_server_swap: bool | None = None
    allow_docker_access: bool | None = None


class Rdp(Model):
    username: str
    password: SecretStr | None = None
    expiry_days: int | None = Field(default=None, ge=0)


class RemoteAccessControl(Model):
    starting_port: int | None = None
    allow: list[str] | None = None
    deny: list[str] | None = None


class Subnet(Model):
    name: str | None = None
    address_prefix: str | None = None


class VirtualNetwork(Model):
    arm_subnet_id: str | None = None
    name: str | None = None
    resource_group: str | None = None
    create_nonexistant: bool | None = None
    address_space: str | None = None
    subnet: Subnet | None = None


class CertificateSpec(Model):
    visibility: list[Literal["node_prep", "remote_user", "task"]]


class ManagedIdentity(Model):
    """shipyard extension: the pool's user-assigned managed identity (Azure). The Key Vault VM
    extension reads the pool's certificates with it, and node prep its Key Vault secrets."""

    resource_id: Text  # /subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>
    client_id: Text  # its client id (a GUID): what a node asks IMDS for a token as


class NvidiaDriver(Model):
    source: str


class Gpu(Model):
    nvidia_driver: NvidiaDriver | None = None
    ignore_warnings: bool | None = None


class NodePrepCommands(Model):
    pre: list[str] = Field(default_factory=list)
    post: list[str] = Field(default_factory=list)


class AdditionalNodePrep(Model):
    commands: NodePrepCommands | None = None
    environment_variables: dict[str, Text] | None = None
    environment_variables_keyvault_secret_id: str | None = None


class Exporter(Model):
    enabled: bool | None = None
    port: int | None = None
    options: list[str] | None = None


class Prometheus(Model):
    node_exporter: Exporter | None = None
    cadvisor: Exporter | None = None


class ContainerRuntimes(Model):
    install: list[Literal["kata_containers", "runc", "singularity"]] | None = None
    default: Literal["kata_containers", "runc"] | None = None


class PoolSpecification(Model):
    id: str
    vm_configuration: VmConfiguration
    vm_size: NonBlank  # Azure refuses an empty size; a typo is the vm.size_known rule's
    vm_count: VmCount
    max_tasks_per_node: int | None = Field(default=None, ge=1)
    resize_timeout: str | None = None
    node_fill_type: Literal["spread", "pack"] | None = None
    autoscale: Autoscale | None = None
    inter_node_communication_enabled: bool | None = None
    per_job_auto_scratch: bool | None = None
    reboot_on_start_task_failed: bool | None = None
    attempt_recovery_on_unusable: bool | None = None
    upload_diagnostics_logs_on_unusable: bool | None = None
    block_until_all_global_resources_loaded: bool | None = None
    transfer_files_on_pool_creation: bool | None = None
    input_data: PoolInputData | None = None
    resource_files: list[ResourceFile] | None = None
    ssh: Ssh | None = None
    rdp: Rdp | None = None
    remote_access_control: RemoteAccessControl | None = None
    virtual_network: VirtualNetwork | None = None
    public_ips: list[str] | None = None
    certificates: dict[Text, CertificateSpec] | None = Field(default=None, min_length=1)
    managed_identity: ManagedIdentity | None = None
    gpu: Gpu | None = None
    additional_node_prep: AdditionalNodePrep | None = None
    batch_insights_enabled: bool | None = None
    prometheus: Prometheus | None = None
    container_runtimes: ContainerRuntimes | None = None
    # The guide's node communication model; ``classic`` unless the pool says otherwise.
    node_communication_mode: NodeCommunicationMode = "classic"

    @model_validator(mode="before")
    @classmethod
    def _node_prep_from_2x(cls, data: Any) -> Any:
        # 2.x: ``additional_node_prep_commands`` (run after shipyard's own prep); early 3.x:
        # ``additional_node_prep_commands_pre``/``_post``. Today: ``additional_node_prep.commands``.
        if not isinstance(data, dict) or "additional_node_prep" in data:
            return data
        old = {
            "pre": data.get("additional_node_prep_commands_pre"),
            "post": data.get("additional_node_prep_commands_post", data.get("additional_node_prep_commands")),
        }
        commands = {when: value for when, value in old.items() if value is not None}
        if not commands:
            return data
        data = {k: v for k, v in data.items() if k not in LEGACY_NODE_PREP_KEYS}
        data["additional_node_prep"] = {"commands": commands}
        return data

    @field_validator("vm_count", mode="before")
    @classmethod
    def _vm_count_int(cls, value: Any) -> Any:
        # Batch Shipyard 2.x wrote ``vm_count: 4``; 3.x writes ``{dedicated, low_priority}``.
        if isinstance(value, int) and not isinstance(value, bool):
            return {"dedicated": value}
        return value

    @field_validator("node_communication_mode", mode="before")
    @classmethod
    def _mode_lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def max_node_count(self) -> int:
        """The most nodes the pool can reach: its vm_count, or autoscale's maximum if larger."""
        nodes = self.vm_count.total
        scenario = self.autoscale.scenario if self.autoscale else None
        if scenario and scenario.maximum_vm_count:
            nodes = max(nodes, scenario.maximum_vm_count.total)
        return nodes


class PoolFile(Model):
    pool_specification: PoolSpecification
