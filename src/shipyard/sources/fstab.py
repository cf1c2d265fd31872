"""``/etc/fstab``, as ``mount`` and systemd's fstab generator read it, and what each entry names.

Used twice: by the image reader, to mount ``/boot`` and ``/boot/efi`` from their own partitions
into the root it reads, and by the mount facts, which the ``boot.fstab`` rule resolves against
the disk's volumes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

# fstab fields escape space, tab, newline and backslash as octal (\040, \011, \012, \134)
_OCTAL = re.compile(r"\\([0-7]{3})")
SPEC_TAGS = ("UUID", "LABEL", "PARTUUID", "PARTLABEL")
_BY_LINKS = {
    "/dev/disk/by-uuid/": "UUID", "/dev/disk/by-label/": "LABEL",
    "/dev/disk/by-partuuid/": "PARTUUID", "/dev/disk/by-partlabel/": "PARTLABEL",
}
# A disk's partition by kernel name: /dev/sda1, /dev/vda2, /dev/xvda1, /dev/nvme0n1p1, /dev/mmcblk0p1
_PARTITION_NAME = re.compile(r"^/dev/(?:(?:[shvx]|xv)d([a-z]+)(\d+)|nvme(\d+)n(\d+)p(\d+)|mmcblk(\d+)p(\d+))$")
# filesystems with no block device behind them (the kernel's, memory, or a bind mount)
VIRTUAL_TYPES = frozenset({
    "proc", "sysfs", "devpts", "devtmpfs", "tmpfs", "ramfs", "cgroup", "cgroup2", "securityfs",
    "debugfs", "tracefs", "configfs", "hugetlbfs", "mqueue", "pstore", "efivarfs", "bpf", "fusectl",
    "binfmt_misc", "autofs", "overlay", "none",
})
NETWORK_TYPES = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "glusterfs", "fuse.glusterfs", "ceph",
                           "fuse.sshfs", "9p", "fuse.blobfuse", "fuse.blobfuse2", "lustre"})


@dataclass(frozen=True)
class FstabLine:
    line: int  # 1-based line number in the file
    spec: str
    mount_point: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_fstab(text: str) -> list[FstabLine]:
    """Every entry, in file order; comments, blank lines and lines of fewer than two fields
    (which ``mount`` also ignores) are left out. Missing fields take mount's defaults."""
    entries: list[FstabLine] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [_unescape(f) for f in line.split()]
        if len(fields) < 2:
            continue
        fstype = fields[2] if len(fields) > 2 else "auto"
        options = tuple(o for o in (fields[3] if len(fields) > 3 else "defaults").split(",") if o)
        entries.append(FstabLine(number, fields[0], fields[1], fstype, options))
    return entries


def spec_tag(spec: str) -> tuple[str, str] | None:
    """What a spec names, as (tag, value): ("UUID", "…"), ("LABEL", "…"), ("PARTUUID", "…"),
    ("PARTLABEL", "…") (also their /dev/disk/by-* forms), or ("PATH", "/dev/…") for a device
    path; None for anything else (a network source, "none", a bind mount's directory)."""
    for tag in SPEC_TAGS:
        if spec.startswith(tag + "="):
            return tag, spec[len(tag) + 1:].strip('"')
    for prefix, tag in _BY_LINKS.items():
        if spec.startswith(prefix):
            return tag, unescape_udev(spec[len(prefix):])
    if spec.startswith("/dev/"):
        return "PATH", spec
    return None


def unescape_udev(name: str) -> str:
    # udev escapes a label's "/" and space in its by-label link as \x2f, \x20
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def partition_number(path: str) -> tuple[str, int] | None:
    """("sda", 1) for /dev/sda1, ("nvme0n1", 1) for /dev/nvme0n1p1: the disk and partition a
    kernel device name means; None for anything else."""
    match = _PARTITION_NAME.match(path)
    if match is None:
        return None
    if match.group(1) is not None:
        disk = path[5:].rstrip("0123456789")
        return disk, int(match.group(2))
    if match.group(3) is not None:
        return f"nvme{match.group(3)}n{match.group(4)}", int(match.group(5))
    return f"mmcblk{match.group(6)}", int(match.group(7))


class Entry(Protocol):
    @property
    def spec(self) -> str: ...

    @property
    def fstype(self) -> str: ...

    @property
    def options(self) -> tuple[str, ...]: ...


def needs_device(entry: Entry) -> bool:
    """Whether the entry mounts a block device of this machine (or activates swap on one):
    not a virtual or network filesystem, nor a bind mount."""
    if entry.fstype in VIRTUAL_TYPES or entry.fstype in NETWORK_TYPES or entry.fstype.startswith("fuse"):
        return False
    if "bind" in entry.options or "rbind" in entry.options or "_netdev" in entry.options:
        return False
    if ":" in entry.spec and not entry.spec.startswith("/"):  # host:/export, //server/share
        return False
    return not entry.spec.startswith("//")
