"""fstab parsing as mount(8) reads it, and what each spec names."""

from __future__ import annotations

import pytest

from shipyard.sources.fstab import FstabLine, needs_device, parse_fstab, partition_number, spec_tag

# Debian's cloud image fstab, with the forms other distributions write
FSTAB = """\
# /etc/fstab: static file system information.
UUID=5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1
PARTUUID=2f1e8c1a-01 /boot/efi vfat defaults 0 0

/dev/mapper/rootvg-homelv /home xfs defaults 0 0
LABEL=my\\040data /data ext4 defaults,nofail 0 2
/dev/disk/cloud/azure_resource-part1 /mnt auto defaults,nofail,x-systemd.requires=cloud-init.service,_netdev,comment=cloudconfig 0 2
proc /proc proc defaults 0 0
tmpfs /tmp tmpfs mode=1777 0 0
server:/export /shared nfs4 defaults 0 0
//files.example/share /share cifs credentials=/etc/smb 0 0
/srv/a /srv/b none bind 0 0
/swapfile none swap sw 0 0
/dev/sdb1
"""


def test_parse_keeps_line_numbers_fields_and_escapes() -> None:
    entries = parse_fstab(FSTAB)
    assert entries[0] == FstabLine(2, "UUID=5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e", "/", "ext4",
                                   ("rw", "discard", "errors=remount-ro", "x-systemd.growfs"))
    assert [e.line for e in entries] == [2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13]  # one field: ignored, as mount does
    data = next(e for e in entries if e.mount_point == "/data")
    assert data.spec == "LABEL=my data" and "nofail" in data.options


def test_missing_fields_take_mounts_defaults() -> None:
    (entry,) = parse_fstab("/dev/sda2 /srv\n")
    assert (entry.fstype, entry.options) == ("auto", ("defaults",))


@pytest.mark.parametrize(("spec", "tag"), [
    ("UUID=AbCd-1234", ("UUID", "AbCd-1234")),
    ('UUID="5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e"', ("UUID", "5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e")),
    ("LABEL=cloudimg-rootfs", ("LABEL", "cloudimg-rootfs")),
    ("PARTUUID=2f1e8c1a-01", ("PARTUUID", "2f1e8c1a-01")),
    ("PARTLABEL=esp", ("PARTLABEL", "esp")),
    ("/dev/disk/by-uuid/5b1d3c1e", ("UUID", "5b1d3c1e")),
    ("/dev/disk/by-label/my\\x20data", ("LABEL", "my data")),
    ("/dev/disk/by-partuuid/2f1e8c1a-01", ("PARTUUID", "2f1e8c1a-01")),
    ("/dev/sda1", ("PATH", "/dev/sda1")),
    ("server:/export", None),
    ("tmpfs", None),
])
def test_spec_tag(spec: str, tag: tuple[str, str] | None) -> None:
    assert spec_tag(spec) == tag


@pytest.mark.parametrize(("path", "named"), [
    ("/dev/sda1", ("sda", 1)), ("/dev/sdb12", ("sdb", 12)), ("/dev/vda2", ("vda", 2)), ("/dev/xvda1", ("xvda", 1)),
    ("/dev/nvme0n1p3", ("nvme0n1", 3)), ("/dev/mmcblk0p1", ("mmcblk0", 1)),
    ("/dev/sda", None), ("/dev/mapper/rootvg-rootlv", None), ("/dev/nvme0n1", None),
])
def test_partition_number(path: str, named: tuple[str, int] | None) -> None:
    assert partition_number(path) == named


def test_needs_device_leaves_out_virtual_network_and_bind_mounts() -> None:
    kept = [e.mount_point for e in parse_fstab(FSTAB) if needs_device(e)]
    assert kept == ["/", "/boot/efi", "/home", "/data", "none"]
