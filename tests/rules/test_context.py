"""The pool context the rules see, derived from real config files (YAML on disk, through the loader)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.rules.context import PoolContext


def pool_yaml(*, vm_size: str = "STANDARD_D2_V2", extra: str = "", custom_image: bool = False) -> str:
    image = (
        "    custom_image:\n"
        "      arm_image_id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0\n"
        "      node_agent: batch.node.ubuntu 22.04\n"
        if custom_image else
        "    platform_image: {publisher: Canonical, offer: 0001-com-ubuntu-server-jammy, sku: 22_04-lts}\n"
    )
    return (
        "pool_specification:\n"
        "  id: mypool\n"
        "  vm_configuration:\n"
        f"{image}"
        f"  vm_size: {vm_size}\n"
        "  vm_count:\n"
        "    dedicated: 2\n"
        f"{textwrap.indent(textwrap.dedent(extra), '  ')}"
    )


def config_yaml(volumes: str) -> str:
    return (
        "batch_shipyard:\n"
        "  storage_account_settings: mystorage\n"
        "global_resources:\n"
        "  volumes:\n"
        "    shared_data_volumes:\n"
        f"{textwrap.indent(textwrap.dedent(volumes), '      ')}"
    )


def fs_yaml(clusters: dict[str, str]) -> str:
    text = "remote_fs:\n  location: eastus\n  storage_clusters:\n"
    for name, server_type in clusters.items():
        text += textwrap.indent(textwrap.dedent(f"""\
            {name}:
              hostname_prefix: {name}
              ssh: {{username: shipyard}}
              virtual_network: {{name: vnet, address_space: 10.0.0.0/16, subnet: {{name: s, address_prefix: 10.0.0.0/24}}}}
              network_security: {{ssh: ['*']}}
              vm_count: 1
              vm_size: STANDARD_F16S
              file_server: {{type: {server_type}, mountpoint: /data}}
            """), "    ")
    return text


STORAGE_CLUSTER_VOLUME = """\
mycluster:
  volume_driver: storage_cluster
  container_path: $AZ_BATCH_NODE_SHARED_DIR/mycluster
"""
AZUREFILE_VOLUME = """\
myshare:
  volume_driver: azurefile
  storage_account_settings: mystorage
  azure_file_share_name: share
  container_path: $AZ_BATCH_NODE_SHARED_DIR/share
"""
GLUSTER_ON_COMPUTE_VOLUME = """\
gvol:
  volume_driver: glusterfs_on_compute
  container_path: $AZ_BATCH_NODE_SHARED_DIR/gvol
"""

AZURE_CREDENTIALS = """\
credentials:
  batch:
    account_service_url: https://myaccount.eastus.batch.azure.com
"""
LOCAL_CREDENTIALS = """\
credentials:
  batch:
    account_service_url: local://
"""

# (case id, {file name: text}, overrides, expected PoolContext fields)
CASES = [
    ("pool-only", {"pool.yaml": pool_yaml()}, {},
     {"known": True, "vm_size": "STANDARD_D2_V2", "vm_size_known": True, "gpu": False, "rdma": False,
      "storage_cluster_types": frozenset(), "azure_file": False, "glusterfs_on_compute": False, "ssh": True}),
    ("nfs-cluster", {"pool.yaml": pool_yaml(), "config.yaml": config_yaml(STORAGE_CLUSTER_VOLUME),
                     "fs.yaml": fs_yaml({"mycluster": "nfs"})}, {},
     {"storage_cluster_types": frozenset({"nfs"})}),
    ("glusterfs-cluster", {"pool.yaml": pool_yaml(), "config.yaml": config_yaml(STORAGE_CLUSTER_VOLUME),
                           "fs.yaml": fs_yaml({"mycluster": "glusterfs", "other": "nfs"})}, {},
     {"storage_cluster_types": frozenset({"glusterfs"})}),  # only the cluster a volume mounts counts
    ("cluster-without-fs-yaml", {"pool.yaml": pool_yaml(), "config.yaml": config_yaml(STORAGE_CLUSTER_VOLUME)}, {},
     {"storage_cluster_types": frozenset({"unknown"})}),
    ("cluster-not-in-fs-yaml", {"pool.yaml": pool_yaml(), "config.yaml": config_yaml(STORAGE_CLUSTER_VOLUME),
                                "fs.yaml": fs_yaml({"elsewhere": "nfs"})}, {},
     {"storage_cluster_types": frozenset({"unknown"})}),
    ("azurefile", {"pool.yaml": pool_yaml(), "config.yaml": config_yaml(AZUREFILE_VOLUME)}, {},
     {"azure_file": True, "glusterfs_on_compute": False, "storage_cluster_types": frozenset()}),
    ("glusterfs-on-compute", {"pool.yaml": pool_yaml(), "config.yaml": config_yaml(GLUSTER_ON_COMPUTE_VOLUME)}, {},
     {"glusterfs_on_compute": True, "azure_file": False}),
    ("all-volumes", {"pool.yaml": pool_yaml(), "fs.yaml": fs_yaml({"mycluster": "nfs"}),
                     "config.yaml": config_yaml(STORAGE_CLUSTER_VOLUME + AZUREFILE_VOLUME + GLUSTER_ON_COMPUTE_VOLUME)},
     {}, {"storage_cluster_types": frozenset({"nfs"}), "azure_file": True, "glusterfs_on_compute": True}),
    ("ssh-denied", {"pool.yaml": pool_yaml(extra="remote_access_control:\n  deny: ['*']\n")}, {},
     {"ssh": False}),
    ("ssh-denied-but-allowed-from", {"pool.yaml": pool_yaml(
        extra="remote_access_control:\n  allow: [10.0.0.0/8]\n  deny: ['*']\n")}, {}, {"ssh": True}),
    ("ssh-deny-one-range", {"pool.yaml": pool_yaml(extra="remote_access_control:\n  deny: [192.168.0.0/16]\n")}, {},
     {"ssh": True}),
    ("gpu-size", {"pool.yaml": pool_yaml(vm_size="Standard_NC6s_v3")}, {},
     {"gpu": True, "rdma": False, "vm_size_known": True}),
    ("rdma-size", {"pool.yaml": pool_yaml(vm_size="Standard_HB120rs_v3")}, {},
     {"gpu": False, "rdma": True, "sriov_rdma": True}),
    ("pool-size-typo", {"pool.yaml": pool_yaml(vm_size="Standard_NC6sv3")}, {},
     {"vm_size": "Standard_NC6sv3", "vm_size_known": False, "gpu": None, "rdma": None}),
    ("override-wins", {"pool.yaml": pool_yaml(vm_size="Standard_NC6sv3")}, {"vm_size": "Standard_D2s_v5"},
     {"vm_size": "Standard_D2s_v5", "vm_size_known": True, "gpu": False}),
    ("nvidia-driver-makes-gpu", {"pool.yaml": pool_yaml(extra="gpu:\n  nvidia_driver:\n    source: https://x/d.run\n")},
     {}, {"gpu": True}),
    ("custom-image-node-agent", {"pool.yaml": pool_yaml(custom_image=True)}, {},
     {"node_agent": "batch.node.ubuntu 22.04"}),
    ("node-agent-override", {"pool.yaml": pool_yaml(custom_image=True)}, {"node_agent": "batch.node.el 9"},
     {"node_agent": "batch.node.el 9"}),
    ("simplified", {"pool.yaml": pool_yaml(extra="node_communication_mode: simplified\n")}, {},
     {"node_communication_mode": "simplified"}),
    # unset: the backend decides (Azure Batch retired classic on 2026-03-31; the local backend keeps it)
    ("azure-account-defaults-to-simplified", {"pool.yaml": pool_yaml(), "credentials.yaml": AZURE_CREDENTIALS}, {},
     {"node_communication_mode": "simplified"}),
    ("local-account-defaults-to-classic", {"pool.yaml": pool_yaml(), "credentials.yaml": LOCAL_CREDENTIALS}, {},
     {"node_communication_mode": "classic"}),
    ("no-credentials-is-local-classic", {"pool.yaml": pool_yaml()}, {}, {"node_communication_mode": "classic"}),
    ("set-mode-wins-on-the-local-backend", {"pool.yaml": pool_yaml(extra="node_communication_mode: simplified\n"),
                                            "credentials.yaml": LOCAL_CREDENTIALS}, {},
     {"node_communication_mode": "simplified"}),
]


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.mark.parametrize(("files", "overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_context_from_config_files(tmp_path: Path, files: dict[str, str], overrides: dict, expected: dict) -> None:
    config = load_config_set(ConfigPaths.resolve(write(tmp_path / "config", files)))
    assert config.errors == [], [str(f) for f in config.errors]
    context = PoolContext.from_config(config, **overrides)
    got = {name: getattr(context, name) for name in expected}
    assert got == expected


def test_no_config_and_no_overrides_knows_nothing() -> None:
    context = PoolContext.from_config(None)
    assert (context.known, context.vm_size, context.vm_size_known, context.gpu, context.rdma) == (
        False, None, None, None, None)


def test_an_unknown_pool_size_reports_unknown_gpu_rules_through_the_rule_table(tmp_path: Path) -> None:
    """The pool.yaml size goes through the same catalogue check as --vm-size."""
    from shipyard.facts.model import Facts
    from shipyard.facts.evidence import Evidence
    from shipyard.rules.engine import evaluate_rules
    from shipyard.rules.registry import RULES

    config = load_config_set(ConfigPaths.resolve(write(tmp_path / "c", {"pool.yaml": pool_yaml(vm_size="Standard_NC6sv3")})))
    results = {r.id: r for r in evaluate_rules(RULES, Evidence(facts=Facts()), PoolContext.from_config(config))}
    assert results["vm.size_known"].status.value == "warn"
    assert "closest: Standard_NC6s_v3" in results["vm.size_known"].message
    assert results["gpu.driver"].status.value == "unknown"


def test_the_rules_do_not_load_the_config_models_when_no_config_is_given() -> None:
    """`image check` without config files must not pay for importing every config model."""
    import subprocess
    import sys

    code = ("import sys; from shipyard.rules.context import PoolContext; "
            "PoolContext.from_config(None, vm_size='Standard_D2s_v5'); print('shipyard.config.loader' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_from_models_reads_the_typed_models_from_config_reads(tmp_path: Path) -> None:
    """``from_config`` is ``from_models`` on the set's pool, general and remote_fs, plus the backend's mode."""
    files = {
        "pool.yaml": pool_yaml(vm_size="Standard_NC6s_v3", custom_image=True),
        "config.yaml": config_yaml("data:\n  volume_driver: storage_cluster\n  container_path: /data\n"),
        "fs.yaml": fs_yaml({"data": "nfs"}),
        "credentials.yaml": AZURE_CREDENTIALS,
    }
    config = load_config_set(ConfigPaths.resolve(write(tmp_path / "c", files)))
    assert config.errors == [], [str(f) for f in config.errors]
    context = PoolContext.from_config(config, vm_size="Standard_D2s_v5")
    models = PoolContext.from_models(config.pool, config.general, config.remote_fs, vm_size="Standard_D2s_v5",
                                     communication_mode="simplified")
    assert context == models
    assert (models.vm_size, models.gpu, models.node_agent) == ("Standard_D2s_v5", False, "batch.node.ubuntu 22.04")
    assert models.storage_cluster_types == frozenset({"nfs"})
    assert context.node_communication_mode == "simplified"  # unset on an Azure account
    # without the backend's word, the pool's own mode (its default, classic)
    assert PoolContext.from_models(config.pool).node_communication_mode == "classic"
    assert PoolContext.from_models() == PoolContext.from_config(None) == PoolContext()
