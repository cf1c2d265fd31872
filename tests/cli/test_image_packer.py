"""`shipyard image packer`: the template a pool's image needs, from its config files."""

from __future__ import annotations

import filecmp
from pathlib import Path

import hcl2
import pytest

from shipyard.packer.plan import SCRIPTS_DIR


def pool_yaml(vm_size: str = "STANDARD_D2S_V3", node_agent: str = "batch.node.ubuntu 22.04", extra: str = "") -> str:
    return (f"pool_specification:\n  id: p\n  vm_configuration:\n    custom_image:\n"
            f"      image_uris: [local://acct1/vhds/a.vhd]\n      node_agent: {node_agent}\n"
            f"  vm_size: {vm_size}\n  vm_count: {{dedicated: 1, low_priority: 0}}\n{extra}")


def run(cli, configdir: Path, out: Path, *args: str):
    return cli("image", "packer", "--configdir", configdir, "--out", out, "--raw", *args)


@pytest.mark.parametrize(("vm_size", "variant", "script"), [
    ("Standard_NC24ads_A100_v4", "gpu", "gpu.sh"), ("Standard_HB120rs_v3", "rdma", "rdma.sh"),
    ("STANDARD_D2S_V3", "base", None),
])
def test_the_size_picks_the_variant(cli, write_config, tmp_path: Path, vm_size: str, variant: str,
                                    script: str | None) -> None:
    configdir = write_config(pool=pool_yaml(vm_size))
    result = run(cli, configdir, tmp_path / "out")
    assert result.code == 0, result.err
    plan = result.json()["plan"]
    assert (plan["base"], plan["node_agent"], plan["variant"]) == ("ubuntu-22.04", "batch.node.ubuntu 22.04", variant)
    template = (tmp_path / "out" / "shipyard.pkr.hcl").read_text()
    hcl2.loads(template)
    for name in ("gpu.sh", "rdma.sh"):
        assert (f"/tmp/shipyard/{name}" in template) == (name == script)
    assert filecmp.dircmp(SCRIPTS_DIR, tmp_path / "out" / "scripts").diff_files == []
    assert sorted(p.name for p in (tmp_path / "out" / "scripts").iterdir()) == sorted(
        p.name for p in SCRIPTS_DIR.iterdir() if p.suffix == ".sh")


@pytest.mark.parametrize(("vm_size", "ofed"), [("Standard_HB120rs_v3", "yes"), ("Standard_H16r", "no")])
def test_sriov_rdma_sizes_get_nvidias_ofed(cli, write_config, tmp_path: Path, vm_size: str, ofed: str) -> None:
    result = run(cli, write_config(pool=pool_yaml(vm_size)), tmp_path / "out")
    assert result.code == 0 and result.json()["plan"]["rdma_ofed"] is (ofed == "yes")
    assert f'"SHIPYARD_RDMA_OFED={ofed}"' in (tmp_path / "out" / "shipyard.pkr.hcl").read_text()


def test_volumes_communication_and_the_gallery_come_from_the_config(cli, write_config, tmp_path: Path) -> None:
    configdir = write_config(
        pool=pool_yaml(extra="  node_communication_mode: classic\n"),
        config="batch_shipyard:\n  storage_account_settings: sa\nglobal_resources:\n  volumes:\n"
               "    shared_data_volumes:\n      share:\n        volume_driver: azurefile\n"
               "        storage_account_settings: sa\n        azure_file_share_name: data\n        container_path: /s\n"
               "      nfsvol:\n        volume_driver: storage_cluster\n        container_path: /n\n",
        credentials="credentials:\n  batch:\n    account_service_url: https://mybatch.westeurope.batch.azure.com\n"
                    "    resource_group: batchrg\n  management:\n    subscription_id: sub-1\n")
    result = run(cli, configdir, tmp_path / "out")
    assert result.code == 0, result.err
    data = result.json()
    assert data["clients_needed_by"] == {"cifs": ["share"], "nfs": ["nfsvol"], "glusterfs": ["nfsvol"]}
    assert data["plan"]["node_communication"] == "classic"
    template = (tmp_path / "out" / "shipyard.pkr.hcl").read_text()
    assert '"SHIPYARD_NODE_COMMUNICATION=classic"' in template
    variables = {k.strip('"'): v for block in hcl2.loads((tmp_path / "out" / "variables.pkr.hcl").read_text())["variable"]
                 for k, v in block.items()}
    assert (variables["subscription_id"]["default"], variables["gallery_resource_group"]["default"],
            variables["location"]["default"]) == ('"sub-1"', '"batchrg"', '"westeurope"')


def test_glusterfs_on_compute_adds_the_server(cli, write_config, tmp_path: Path) -> None:
    configdir = write_config(pool=pool_yaml(), config=(
        "batch_shipyard:\n  storage_account_settings: sa\nglobal_resources:\n  volumes:\n    shared_data_volumes:\n"
        "      gfs:\n        volume_driver: glusterfs_on_compute\n        container_path: /g\n"))
    result = run(cli, configdir, tmp_path / "out")
    assert result.code == 0, result.err
    assert result.json()["plan"]["storage_clients"] == ["nfs", "glusterfs", "cifs", "glusterfs-server"]
    assert '"SHIPYARD_STORAGE_CLIENTS=nfs glusterfs cifs glusterfs-server"' in (
        tmp_path / "out" / "shipyard.pkr.hcl").read_text()


def test_the_base_follows_the_node_agent_or_the_option(cli, write_config, tmp_path: Path) -> None:
    configdir = write_config(pool=pool_yaml(node_agent="batch.node.el 9"))
    assert run(cli, configdir, tmp_path / "a").json()["plan"]["base"] == "alma-9"
    assert run(cli, configdir, tmp_path / "b", "--base", "ubuntu-24.04").json()["plan"]["node_agent"] == (
        "batch.node.ubuntu 24.04")


def test_bad_input_is_one_line(cli, write_config, tmp_path: Path) -> None:
    retired = write_config(pool=pool_yaml(node_agent="batch.node.centos 7"))
    result = cli("image", "packer", "--configdir", retired, "--out", tmp_path / "x")
    assert result.code == 2 and "node agent batch.node.centos 7 is not one a template serves" in result.err
    assert "pool.yaml:6" in result.err and not (tmp_path / "x").exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    good = write_config(pool=pool_yaml())
    again = cli("image", "packer", "--configdir", good, "--out", full)
    assert again.code == 2 and "not empty" in again.err and (full / "keep.txt").read_text() == "mine"
    assert cli("image", "packer", "--out", tmp_path / "y").code == 2  # no pool file
