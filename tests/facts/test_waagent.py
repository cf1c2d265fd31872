"""waagent.conf and cloud-init's resource disk setup."""

from __future__ import annotations

from pathlib import Path

from fixtures.trees import remove, write_files

from shipyard.facts.collectors.waagent import collect_waagent
from shipyard.sources.directory import DirectorySource


def waagent_of(root: Path):
    return collect_waagent(DirectorySource(root))


def test_ubuntu_cloud_init_owns_the_resource_disk(ubuntu_root: Path) -> None:
    facts = waagent_of(ubuntu_root)
    assert facts.conf_present and facts.resource_disk_format is False
    assert facts.resource_disk_mount_point == "/mnt"
    assert facts.os_enable_rdma is False  # commented out: the agent's default
    assert facts.cloud_init.files == ("/etc/cloud/cloud.cfg", "/etc/cloud/cloud.cfg.d/90_dpkg.cfg")
    assert facts.resource_mount_point() == "/mnt"  # cloud-init's Azure default


def test_cloud_init_mounts_override(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/cloud/cloud.cfg.d/99-mounts.cfg": """
        disk_setup:
          ephemeral0:
            table_type: gpt
        fs_setup:
          - device: ephemeral0.1
            filesystem: ext4
        mounts:
          - [ephemeral0, /mnt/batch]
        """})
    cloud = waagent_of(ubuntu_root).cloud_init
    assert cloud.mounts_ephemeral == "/mnt/batch" and cloud.disk_setup_ephemeral
    assert waagent_of(ubuntu_root).resource_mount_point() == "/mnt/batch"
    write_files(ubuntu_root, {"/etc/cloud/cloud.cfg.d/99-mounts.cfg": "mounts:\n  - [ephemeral0, null]\n"})
    assert waagent_of(ubuntu_root).resource_mount_point() is None


def test_broken_cloud_cfg_file_is_skipped(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/cloud/cloud.cfg.d/50-bad.cfg": "mounts: [unclosed\n"})
    assert waagent_of(ubuntu_root).cloud_init.files == ("/etc/cloud/cloud.cfg", "/etc/cloud/cloud.cfg.d/90_dpkg.cfg")


def test_rhel_waagent_formats(rhel_root: Path) -> None:
    facts = waagent_of(rhel_root)
    assert facts.resource_disk_format is True and facts.os_enable_rdma is True
    assert facts.cloud_init is None
    assert facts.resource_mount_point() == "/mnt/resource"


def test_defaults_fill_missing_keys(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/waagent.conf": "ResourceDisk.Format=y  # comment\n"})
    facts = waagent_of(tmp_path)
    assert facts.resource_disk_mount_point == "/mnt/resource"
    assert facts.resource_disk_enable_swap is False


def test_nothing_is_unknown(ubuntu_root: Path) -> None:
    remove(ubuntu_root, "/etc/waagent.conf", "/etc/cloud")
    facts = waagent_of(ubuntu_root)
    assert facts.conf_present is False
    assert facts.resource_disk_mount_point is None and facts.os_enable_rdma is None
    assert facts.resource_mount_point() is None
