"""Mount rules: every ``/etc/fstab`` entry a boot waits for exists, and no swap on the OS disk."""

from __future__ import annotations

from shipyard.facts.boot import DiskFacts, FstabEntry, VolumeFacts
from shipyard.facts.evidence import Evidence
from shipyard.results import Outcome, Severity
from shipyard.rules.base import Rule, linux_only
from shipyard.rules.context import PoolContext
from shipyard.sources.fstab import needs_device

# the names of the resource (temporary) disk: Gen1/Gen2 SCSI, and the links that waagent's and
# azure-vm-utils' udev rules make
RESOURCE_DISK_SPECS = ("/dev/sdb1", "/dev/disk/cloud/azure_resource-part1", "/dev/disk/azure/resource-part1")


def _is_resource_disk(entry: FstabEntry) -> bool:
    return entry.spec in RESOURCE_DISK_SPECS


def _describe(volume: VolumeFacts) -> str:
    fs = f" ({volume.filesystem})" if volume.filesystem else ""
    return f"{volume.location}{fs}"


def _resolve(entry: FstabEntry, disk: DiskFacts | None, swap_files: tuple[str, ...]) -> tuple[bool | None, str]:
    """Whether the entry's device will be there at boot, and what it resolved to."""
    if _is_resource_disk(entry):
        return True, "the resource disk"
    if entry.fstype == "swap" and entry.spec.startswith("/") and not entry.spec.startswith("/dev/"):
        return (True, f"the swap file {entry.spec}") if entry.spec in swap_files else (False, "no such file")
    if disk is None:
        return None, "the disk's volumes could not be read"
    volume = disk.find(entry.spec)
    if volume is None:
        where = "the image" if disk.source == "image" else "this node"
        return False, f"no filesystem in {where}"
    root = disk.root
    if entry.mount_point == "/" and root is not None and volume != root:
        return False, f"{_describe(volume)}, but the root filesystem is {_describe(root)}"
    return True, _describe(volume)


def _fstab(evidence: Evidence, pool: PoolContext) -> Outcome:
    mounts = evidence.facts.mounts
    if mounts is None:
        return Outcome.unknown("/etc/fstab could not be read")
    if not mounts.fstab_present:
        return Outcome.ok("no /etc/fstab: nothing is mounted at boot but the root the kernel command line names")
    waited = [e for e in mounts.entries if needs_device(e) and not e.nofail]
    if not waited:
        return Outcome.ok(f"/etc/fstab: {len(mounts.entries)} entries, none that boot waits for a device for")
    bad: list[str] = []
    unknown: list[str] = []
    good: list[str] = []
    for entry in waited:
        state, what = _resolve(entry, evidence.facts.disk, mounts.swap_files)
        line = f"line {entry.line}: {entry.spec} on {entry.mount_point}"
        if state is False:
            bad.append(f"{line} names {what}")
        elif state is None:
            unknown.append(line)
        else:
            good.append(f"{entry.mount_point} -> {what}")
    if bad:
        return Outcome.bad(
            "/etc/fstab " + "; ".join(bad) + ", and has no nofail: boot waits 90 s for it, then stops in emergency mode"
        )
    if unknown:
        return Outcome.unknown("/etc/fstab " + "; ".join(unknown) + ": the disk's volumes could not be read")
    return Outcome.ok("/etc/fstab: " + ", ".join(good))


def _os_swap(evidence: Evidence, pool: PoolContext) -> Outcome:
    mounts, disk = evidence.facts.mounts, evidence.facts.disk
    if mounts is None and disk is None:
        return Outcome.unknown("neither /etc/fstab nor the partition table could be read")
    found: list[str] = []
    if mounts is not None:
        for entry in mounts.entries:
            if entry.fstype != "swap" or _is_resource_disk(entry):
                continue
            if entry.spec in mounts.swap_files:
                found.append(f"the swap file {entry.spec} (/etc/fstab line {entry.line})")
            elif disk is not None and disk.find(entry.spec) is not None:
                found.append(f"{entry.spec} (/etc/fstab line {entry.line})")
    if disk is not None and disk.source == "image":
        for volume in disk.swap_volumes():
            found.append(f"a swap partition, {volume.location}")
    if found:
        return Outcome.bad("swap on the OS disk: " + "; ".join(dict.fromkeys(found)))
    if mounts is None:
        return Outcome.unknown("/etc/fstab could not be read")
    if disk is None:  # a root directory, or a node without /dev/disk: its fstab is what activates swap
        return Outcome.ok("no swap in /etc/fstab (no partition table read)")
    return Outcome.ok("no swap on the OS disk")


RULES = (
    Rule(
        "boot.fstab", Severity.ERROR,
        "every /etc/fstab entry without nofail names a filesystem in the image, or the resource disk",
        "fix the entry's UUID=/LABEL= (blkid shows them), add nofail to its options, or remove the line",
        _fstab, linux_only,
    ),
    Rule(
        "disk.os_swap", Severity.WARNING,
        "no swap partition or swap file on the OS disk: swap belongs on the resource disk",
        "remove the swap entry from /etc/fstab (and the swap partition or file); for swap on the resource disk set "
        "ResourceDisk.EnableSwap=y and ResourceDisk.SwapSizeMB in /etc/waagent.conf, or cloud-init's mounts/swap",
        _os_swap, linux_only,
    ),
)
