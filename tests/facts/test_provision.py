"""The provisioning and generalisation facts, on roots holding Debian's real walinuxagent
(``waagent``) and cloud-init packages, enabled as their maintainer scripts enable them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures.debs import unpacked_deb
from fixtures.trees import enable_unit, link, write_files
from shipyard.facts import collect_facts
from shipyard.facts.collectors.provision import collect_generalization, collect_provisioning
from shipyard.sources import DirectorySource

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
CLOUD_UNITS = ("cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service")


def install(root: Path, package: str) -> None:
    shutil.copytree(unpacked_deb(package), root, symlinks=True, dirs_exist_ok=True)


def debian_root(root: Path, *, waagent: bool = True, cloud_init: bool = True) -> Path:
    write_files(root, {"/etc/os-release": OS_RELEASE, "/etc/machine-id": ""})
    if waagent:
        install(root, "waagent")
        enable_unit(root, "walinuxagent.service")  # deb-systemd-helper enable, from its postinst
    if cloud_init:
        install(root, "cloud-init")
        for unit in CLOUD_UNITS:
            enable_unit(root, unit, "cloud-init.target")
    return root


@pytest.fixture
def both(tmp_path: Path) -> Path:
    return debian_root(tmp_path)


def test_debians_packages_as_installed(both: Path) -> None:
    facts = collect_facts(DirectorySource(both), strict=True)
    p = facts.provisioning
    assert p is not None
    assert (p.waagent_installed, p.waagent_path, p.waagent_unit, p.waagent_enabled) == (
        True, "/usr/sbin/waagent", "walinuxagent.service", True)
    assert (p.cloud_init_installed, p.cloud_init_path, p.cloud_init_enabled) == (True, "/usr/bin/cloud-init", True)
    assert p.datasources is None  # Debian's cloud.cfg leaves cloud-init's own list
    assert p.provisioning_agent == "cloud-init"  # what Debian's waagent.conf says
    assert facts.generalization is not None and facts.generalization.leftovers == ()


def test_cloud_init_disabled_by_file_or_command_line(both: Path) -> None:
    source = DirectorySource(both)
    facts = collect_facts(source, strict=True)
    by_cmdline = collect_provisioning(source, facts.services, facts.waagent, "root=/dev/sda1 ro cloud-init=disabled")
    assert by_cmdline.cloud_init_enabled is False and by_cmdline.cloud_init_disabled_by == "cloud-init=disabled on the kernel command line"
    write_files(both, {"/etc/cloud/cloud-init.disabled": ""})
    p = collect_facts(DirectorySource(both), strict=True).provisioning
    assert p is not None and p.cloud_init_enabled is False and p.cloud_init_disabled_by == "/etc/cloud/cloud-init.disabled"


def test_datasource_list_from_cloud_cfg_d_and_ds_identify(both: Path) -> None:
    write_files(both, {"/etc/cloud/cloud.cfg.d/90_dpkg.cfg": "# to update this file, run dpkg-reconfigure cloud-init\n"
                                                             "datasource_list: [ NoCloud, ConfigDrive ]\n"})
    p = collect_facts(DirectorySource(both), strict=True).provisioning
    assert p is not None and p.datasources == ("NoCloud", "ConfigDrive")
    assert p.datasource_files[-1] == "/etc/cloud/cloud.cfg.d/90_dpkg.cfg"
    write_files(both, {"/etc/cloud/ds-identify.cfg": "policy: search,found=all,maybe=all,notfound=disabled\ndatasource: Azure\n"})
    p = collect_facts(DirectorySource(both), strict=True).provisioning
    assert p is not None and p.datasources == ("Azure",)


def test_no_generator_means_the_units_must_be_enabled(both: Path) -> None:
    (both / "lib/systemd/system-generators/cloud-init-generator").unlink()
    shutil.rmtree(both / "etc/systemd/system/cloud-init.target.wants")
    p = collect_facts(DirectorySource(both), strict=True).provisioning
    assert p is not None and p.cloud_init_installed and p.cloud_init_enabled is False


def test_waagent_not_enabled(tmp_path: Path) -> None:
    root = debian_root(tmp_path, cloud_init=False)
    (root / "etc/systemd/system/multi-user.target.wants/walinuxagent.service").unlink()
    p = collect_facts(DirectorySource(root), strict=True).provisioning
    assert p is not None and (p.waagent_installed, p.waagent_enabled, p.cloud_init_installed) == (True, False, False)


def test_generalization_leftovers(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "/etc/machine-id": "4f2b0c7e9a7d4d6f9b0b5a1f3c2e1d00\n",
        "/etc/ssh/ssh_host_ed25519_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n",
        "/etc/ssh/ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA",
        "/etc/ssh/ssh_host_rsa_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n",
        "/var/lib/waagent/provisioned": "", "/var/lib/waagent/ovf-env.xml": "<Environment/>",
        "/var/lib/waagent/waagent_status.json": "{}",
        "/var/lib/cloud/instances/0f1e2d3c/boot-finished": "",
        "/home/azureuser/.ssh/authorized_keys": "ssh-ed25519 AAAAC3Nza azureuser@build\n",
        "/root/.ssh/authorized_keys": "# no keys\n",
        "/etc/udev/rules.d/70-persistent-net.rules":
            'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="00:0d:3a:12:34:56", NAME="eth0"\n',
    })
    link(tmp_path, "/var/lib/cloud/instance", "/var/lib/cloud/instances/0f1e2d3c")
    leftovers = collect_generalization(DirectorySource(tmp_path)).leftovers
    assert [(item.kind, item.path) for item in leftovers] == [
        ("machine-id", "/etc/machine-id"), ("ssh-host-key", "/etc/ssh"), ("waagent-state", "/var/lib/waagent"),
        ("cloud-init-state", "/var/lib/cloud"), ("authorized-keys", "/home/azureuser/.ssh/authorized_keys"),
        ("udev-net-rules", "/etc/udev/rules.d/70-persistent-net.rules"),
    ]
    assert "2 SSH host keys" in leftovers[1].detail and "waagent -deprovision+user -force" in leftovers[1].fix
    assert "cloud-init clean" in leftovers[3].fix
    text = repr(leftovers)
    assert "secret" not in text and "AAAAC3Nza" not in text and "00:0d:3a" not in text  # what is found, never its content


def test_uninitialized_machine_id_is_generalised(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/machine-id": "uninitialized\n"})
    assert collect_generalization(DirectorySource(tmp_path)).leftovers == ()
