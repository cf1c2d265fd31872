"""Partition identity (PARTUUID, PARTLABEL, PTUUID, MBR boot code) on tables sfdisk writes, checked
against ``sfdisk --json`` and ``blkid -p``; volumes' identities through ``open_image``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from image.test_partitions import sfdisk_image

from fixtures.images import build_test_image
from shipyard.image.device import FileDevice
from shipyard.image.partitions import mbr_partuuid, read_partition_table
from shipyard.image.root import open_image

MIB = 1024 * 1024
SFDISK = shutil.which("sfdisk") or ("/usr/sbin/sfdisk" if os.path.exists("/usr/sbin/sfdisk") else None)
BLKID = shutil.which("blkid") or ("/usr/sbin/blkid" if os.path.exists("/usr/sbin/blkid") else None)
pytestmark = pytest.mark.skipif(SFDISK is None or BLKID is None, reason="sfdisk and blkid (util-linux) are needed")


def sfdisk_json(path: Path) -> dict:
    result = subprocess.run([SFDISK, "--json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["partitiontable"]


def blkid_table(path: Path) -> dict[str, str]:
    result = subprocess.run([BLKID, "-p", "-o", "export", str(path)], capture_output=True, text=True)
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_mbr_disk_signature_gives_each_partition_its_partuuid(tmp_path: Path) -> None:
    path = sfdisk_image(tmp_path / "mbr.raw", "label: dos\nlabel-id: 0x2f1e8c1a\n"
                        "start=2048, size=8192, type=83, bootable\n"
                        "start=10240, type=5\n"
                        "size=8192, type=82\n"
                        "type=83\n")
    with FileDevice(path) as disk:
        table = read_partition_table(disk)
    theirs = sfdisk_json(path)
    assert theirs["id"] == "0x2f1e8c1a" and table.disk_signature == 0x2F1E8C1A
    assert table.ptuuid == "2f1e8c1a" == blkid_table(path)["PTUUID"]
    assert [(p.index, p.partuuid) for p in table.partitions] == [
        (1, "2f1e8c1a-01"), (5, "2f1e8c1a-05"), (6, "2f1e8c1a-06")]
    assert [p.partlabel for p in table.partitions] == [None, None, None]
    assert table.mbr_boot_code is False
    with open(path, "r+b") as handle:  # boot code: the first bytes of GRUB's boot.img (a jump)
        handle.write(b"\xeb\x63\x90")
    with FileDevice(path) as disk:
        assert read_partition_table(disk).mbr_boot_code is True


def test_an_mbr_with_a_zero_signature_has_no_partuuid(tmp_path: Path) -> None:
    path = sfdisk_image(tmp_path / "zero.raw", "label: dos\nlabel-id: 0x0\nstart=2048, type=83\n")
    with FileDevice(path) as disk:
        table = read_partition_table(disk)
    assert table.disk_signature == 0 and table.ptuuid is None and table.partitions[0].partuuid is None
    assert "PTUUID" not in blkid_table(path) and mbr_partuuid(0, 1) is None


def test_gpt_partuuid_partlabel_and_ptuuid(tmp_path: Path) -> None:
    path = sfdisk_image(tmp_path / "gpt.raw", "label: gpt\nlabel-id: 5B1C7E36-0D3A-4C2E-9F00-11AA22BB33CC\n"
                        "size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=\"BIOS boot\"\n"
                        "size=8MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=EFI, "
                        "uuid=0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\n"
                        "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
    with FileDevice(path) as disk:
        table = read_partition_table(disk)
    theirs = sfdisk_json(path)
    assert table.ptuuid == theirs["id"].lower() == blkid_table(path)["PTUUID"] == "5b1c7e36-0d3a-4c2e-9f00-11aa22bb33cc"
    assert [p.partuuid for p in table.partitions] == [p["uuid"].lower() for p in theirs["partitions"]]
    assert table.partitions[1].partuuid == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert [p.partlabel for p in table.partitions] == ["BIOS boot", "EFI", None]
    assert [p.type_name for p in table.partitions] == ["bios-boot", "efi", "linux"]
    assert table.mbr_boot_code is False and table.disk_signature is None


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_open_image_volumes_carry_the_identities(tmp_path: Path, table: str) -> None:
    path = build_test_image(tmp_path, f"{table}.vhd", table=table)
    with open_image(path) as image:
        (volume,) = image.volumes
        (partition,) = image.table.partitions
        report = image.describe_format()
    fs = subprocess.run([BLKID, "-p", "-o", "export", "--offset", str(partition.start_bytes), str(path)],
                        capture_output=True, text=True).stdout
    fs_tags = dict(line.split("=", 1) for line in fs.splitlines() if "=" in line)
    assert (volume.partition, volume.filesystem, volume.uuid, volume.label) == (
        1, "ext4", fs_tags["UUID"], fs_tags.get("LABEL"))
    assert volume.partuuid == partition.partuuid and volume.part_type == "linux"
    assert volume.partlabel == ("root" if table == "gpt" else None)
    assert report["ptuuid"] == blkid_table(path)["PTUUID"] and report["mbr_boot_code"] is False
    assert report["volumes"] == [{
        "location": "partition 1", "size_bytes": partition.size_bytes, "filesystem": "ext4", "partition": 1,
        "uuid": volume.uuid, "label": volume.label, "partuuid": partition.partuuid, "partlabel": volume.partlabel,
        "part_type": "linux"}]
