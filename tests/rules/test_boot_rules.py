"""The boot and mount rules over the facts model: a pass, a fail and an unknown case each.

The facts here are what the collectors produce (tests/facts cover the collectors; the real
images in tests/checks/test_boot_images.py cover the two together)."""

from __future__ import annotations

import pytest

from shipyard.facts.boot import (
    BootEntry, BootFacts, BootKernel, BootloaderFacts, DiskFacts, FstabEntry, InitramfsFacts, MountFacts, VolumeFacts,
)
from shipyard.facts.evidence import Evidence, RuntimeProbes
from shipyard.facts.model import Facts, OsFacts
from shipyard.results import Severity, Status
from shipyard.rules import boot, mounts
from shipyard.rules.context import PoolContext
from shipyard.rules.engine import evaluate_rule

V = "6.1.0-57-cloud-amd64"
KERNEL = f"/boot/vmlinuz-{V}"
ROOT_UUID = "5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e"
HV = ("hv_netvsc", "hv_storvsc", "hv_vmbus")
RULES = {rule.id: rule for rule in (*boot.RULES, *mounts.RULES)}


def initramfs(modules: tuple[str, ...] | None = (*HV, "ext4"), error: str | None = None) -> InitramfsFacts:
    return InitramfsFacts(path=f"/boot/initrd.img-{V}", size_bytes=1 << 20, segments=("zstd",), files=40,
                          kernel_versions=(V,), modules=modules, error=error)


def kernel(**changes: object) -> BootKernel:
    values: dict[str, object] = {"version": V, "path": KERNEL, "initramfs": initramfs(), "builtin_modules": ("ext4",)}
    values.update(changes)
    return BootKernel.model_validate(values)


GRUB_ENTRY = BootEntry(title="Debian GNU/Linux", kernel=KERNEL, kernel_resolved=KERNEL,
                       initrd=(f"/boot/initrd.img-{V}",), cmdline=f"root=UUID={ROOT_UUID} ro console=tty1 console=ttyS0,115200n8",
                       source="/boot/grub/grub.cfg")


def boot_facts(*, kernels: tuple[BootKernel, ...] | None = None, entry: BootEntry | None = GRUB_ENTRY,
               kind: str | None = "grub", cmdline: str | None = GRUB_ENTRY.cmdline, **loader: object) -> BootFacts:
    kernels = (kernel(),) if kernels is None else kernels
    bootloader = BootloaderFacts.model_validate({
        "kind": kind, "config_files": ("/boot/grub/grub.cfg",) if kind == "grub" else (),
        "entries": (entry,) if entry else (), "default_index": 0 if entry else None,
        "default_reason": 'set default="0"' if entry else None, **loader,
    })
    return BootFacts(kernels=kernels, default_kernel=kernels[0].version if kernels else None,
                     default_reason="the default entry", bootloader=bootloader, cmdline=cmdline,
                     cmdline_source="/boot/grub/grub.cfg" if cmdline else None)


ROOT = VolumeFacts(location="partition 1", partition=1, filesystem="ext4", uuid=ROOT_UUID, label="rootfs",
                   part_type="linux", is_root=True)
ESP = VolumeFacts(location="partition 15", partition=15, filesystem="vfat", uuid="ABCD-1234", part_type="efi")


def disk(*volumes: VolumeFacts, scheme: str = "gpt", **changes: object) -> DiskFacts:
    return DiskFacts.model_validate({"scheme": scheme, "volumes": volumes or (ROOT, ESP), "source": "image", **changes})


def fstab(*lines: tuple[str, str, str, str], present: bool = True, swap_files: tuple[str, ...] = ()) -> MountFacts:
    entries = tuple(FstabEntry(line=i, spec=spec, mount_point=mp, fstype=fs, options=tuple(opts.split(",")))
                    for i, (spec, mp, fs, opts) in enumerate(lines, 1))
    return MountFacts(fstab_present=present, entries=entries, swap_files=swap_files)


GOOD_FSTAB = fstab((f"UUID={ROOT_UUID}", "/", "ext4", "defaults"), ("UUID=abcd-1234", "/boot/efi", "vfat", "umask=0077"))
LINUX = OsFacts(id="debian", version_id="12", family="debian")


def run(rule_id: str, probes: RuntimeProbes | None = None, **facts: object) -> tuple[Status, Severity, str]:
    base: dict[str, object] = {"os": LINUX, "boot": boot_facts(), "disk": disk(), "mounts": GOOD_FSTAB}
    base.update(facts)
    (result,) = evaluate_rule(RULES[rule_id], Evidence(facts=Facts.model_validate(base), probes=probes), PoolContext())
    return result.status, result.severity, result.message


@pytest.mark.parametrize(("rule_id", "facts", "status", "words"), [
    # boot.kernel
    ("boot.kernel", {}, Status.PASS, f"boots kernel {V}"),
    ("boot.kernel", {"boot": boot_facts(kernels=())}, Status.FAIL, "no kernel in the image"),
    ("boot.kernel", {"boot": boot_facts(entry=GRUB_ENTRY.model_copy(update={"kernel": "/vmlinuz-6.9", "kernel_resolved": None}))},
     Status.FAIL, "boots /vmlinuz-6.9, which is not in the image"),
    ("boot.kernel", {"boot": boot_facts(entry=None, kind=None)}, Status.FAIL, "no bootloader is"),
    ("boot.kernel", {"boot": boot_facts(entry=None)}, Status.FAIL, "has no boot entry"),
    ("boot.kernel", {"boot": boot_facts(entry=None, kind="efi", efi_loaders=("/boot/efi/EFI/BOOT/BOOTX64.EFI",))},
     Status.UNKNOWN, "cannot be read offline"),
    ("boot.kernel", {"boot": None}, Status.UNKNOWN, "could not be read"),
    # boot.hyperv_drivers
    ("boot.hyperv_drivers", {}, Status.PASS, "hv_vmbus in the initramfs"),
    ("boot.hyperv_drivers", {"boot": boot_facts(kernels=(kernel(initramfs=None, builtin_modules=HV),))}, Status.PASS,
     "hv_vmbus built in"),
    ("boot.hyperv_drivers", {"boot": boot_facts(kernels=(kernel(initramfs=initramfs(("hv_vmbus", "hv_netvsc"))),))},
     Status.FAIL, "hv_storvsc neither built into kernel"),
    ("boot.hyperv_drivers", {"boot": boot_facts(kernels=(kernel(initramfs=None),))}, Status.FAIL, "there is none for it"),
    ("boot.hyperv_drivers", {"boot": boot_facts(kernels=(kernel(initramfs=initramfs(None, "unknown compression 0x894c5a4f")),))},
     Status.UNKNOWN, "unknown compression"),
    ("boot.hyperv_drivers", {"boot": boot_facts(kernels=())}, Status.UNKNOWN, "no default kernel"),
    # boot.console
    ("boot.console", {}, Status.PASS, "console=ttyS0,115200n8"),
    ("boot.console", {"boot": boot_facts(cmdline="root=/dev/sda1 ro quiet splash console=tty1")}, Status.WARN,
     "has console=tty1"),
    ("boot.console", {"boot": boot_facts(cmdline=None)}, Status.UNKNOWN, "no kernel command line"),
    # boot.generation
    ("boot.generation", {"boot": boot_facts(efi_loaders=("/boot/efi/EFI/BOOT/BOOTX64.EFI",))}, Status.PASS,
     "Generation 2: GPT with an EFI system partition with /boot/efi/EFI/BOOT/BOOTX64.EFI"),
    ("boot.generation", {"disk": disk(ROOT, ESP, VolumeFacts(location="partition 14", partition=14, part_type="bios-boot"))},
     Status.PASS, "Generations 1 and 2"),
    ("boot.generation", {"disk": disk(ROOT, scheme="mbr", mbr_boot_code=True)}, Status.PASS, "Generation 1: MBR with boot code"),
    ("boot.generation", {"disk": disk(ROOT, scheme="mbr", mbr_boot_code=False)}, Status.UNKNOWN, "no BIOS boot path"),
    ("boot.generation", {"disk": disk(ROOT)}, Status.UNKNOWN, "neither an EFI system partition"),
    # boot.fstab
    ("boot.fstab", {}, Status.PASS, "/ -> partition 1 (ext4), /boot/efi -> partition 15 (vfat)"),
    ("boot.fstab", {"mounts": fstab(present=False)}, Status.PASS, "no /etc/fstab"),
    ("boot.fstab", {"mounts": fstab(("UUID=0000", "/data", "ext4", "defaults"))}, Status.FAIL,
     "line 1: UUID=0000 on /data names no filesystem in the image"),
    ("boot.fstab", {"mounts": fstab(("UUID=0000", "/data", "ext4", "defaults,nofail"), ("/dev/sdb1", "/mnt", "auto", "defaults"))},
     Status.PASS, "/mnt -> the resource disk"),
    ("boot.fstab", {"mounts": fstab(("LABEL=rootfs", "/", "ext4", "defaults"), ("UUID=ABCD-1234", "/", "ext4", "defaults"))},
     Status.FAIL, "but the root filesystem is partition 1"),
    ("boot.fstab", {"mounts": fstab(("/swap.img", "none", "swap", "sw"))}, Status.FAIL, "names no such file"),
    ("boot.fstab", {"disk": None}, Status.UNKNOWN, "could not be read"),
    ("boot.fstab", {"mounts": None}, Status.UNKNOWN, "/etc/fstab could not be read"),
    # disk.os_swap
    ("disk.os_swap", {}, Status.PASS, "no swap on the OS disk"),
    ("disk.os_swap", {"mounts": fstab(("/swap.img", "none", "swap", "sw"), swap_files=("/swap.img",))}, Status.WARN,
     "the swap file /swap.img (/etc/fstab line 1)"),
    ("disk.os_swap", {"disk": disk(ROOT, VolumeFacts(location="partition 2", partition=2, filesystem="swap", part_type="swap"))},
     Status.WARN, "a swap partition, partition 2"),
    ("disk.os_swap", {"mounts": fstab(("/dev/sdb1", "none", "swap", "sw"))}, Status.PASS, "no swap"),
    ("disk.os_swap", {"mounts": None}, Status.UNKNOWN, "/etc/fstab could not be read"),
    ("disk.os_swap", {"disk": None}, Status.PASS, "no swap in /etc/fstab (no partition table read)"),
])
def test_rule(rule_id: str, facts: dict[str, object], status: Status, words: str) -> None:
    found, severity, message = run(rule_id, **facts)
    assert (found, words) == (status, words) and words in message, message
    if status is Status.FAIL:
        assert severity is Severity.ERROR


def test_generation_is_info_and_skips_a_live_node() -> None:
    status, severity, _ = run("boot.generation")
    assert (status, severity) == (Status.PASS, Severity.INFO)
    live = disk(ROOT, source="live", scheme=None)
    status, _, message = run("boot.generation", disk=live, probes=RuntimeProbes())
    assert status is Status.SKIP and "read from a disk's partition table" in message


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_windows_images_are_skipped(rule_id: str) -> None:
    status, _, message = run(rule_id, os=OsFacts(id="windows", family="windows"))
    assert status is Status.SKIP and "not a Linux image" in message
