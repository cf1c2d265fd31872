"""The boot, mount, provisioning and generalisation facts: will the image boot on Azure, and
will it provision?

As everywhere in the facts model, ``None`` means the fact could not be read (unknown), never
"no". The disk layout (``DiskFacts``) is the one section no file in the root holds: offline the
image reader fills it from the partition table and the filesystems' superblocks; live it comes
from ``/dev/disk/by-*``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shipyard.sources.fstab import partition_number, spec_tag

__all__ = [
    "BootEntry",
    "BootFacts",
    "BootKernel",
    "BootloaderFacts",
    "DiskFacts",
    "FstabEntry",
    "GeneralizationFacts",
    "InitramfsFacts",
    "Leftover",
    "MountFacts",
    "ProvisioningFacts",
    "VolumeFacts",
]

HYPERV_MODULES = ("hv_vmbus", "hv_storvsc", "hv_netvsc")
# what an image's own disk is called once booted: SCSI (storvsc) on most sizes, NVMe on the newest
OS_DISK_NAMES = ("sda", "vda", "xvda", "nvme0n1")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- boot ---------------------------------------------------------------------------------


class InitramfsFacts(_Frozen):
    """One initramfs file, read as the kernel unpacks it: concatenated cpio archives, each
    uncompressed (early microcode) or compressed."""

    path: str
    size_bytes: int
    segments: tuple[str, ...] = ()  # each archive's compression in order: "none", "zstd", "gzip", "xz", "lz4", "bzip2"
    files: int | None = None  # entries in all archives
    kernel_versions: tuple[str, ...] = ()  # the lib/modules/<version> directories inside
    modules: tuple[str, ...] | None = None  # every kernel module inside, normalised ("hv_vmbus"); None: unreadable
    error: str | None = None  # why it could not be read (then ``modules`` is None)

    def has_module(self, name: str) -> bool | None:
        if self.modules is None:
            return None
        return name.replace("-", "_") in self.modules


class BootKernel(_Frozen):
    version: str
    path: str  # "/boot/vmlinuz-6.1.0-57-cloud-amd64" (or "/usr/lib/modules/<v>/vmlinuz")
    format: str | None = None  # what its header says: "bzImage", "elf", "pe", "efi-zboot", "arm64-image", "gzip", ...; None: not read
    initramfs: InitramfsFacts | None = None  # None: no initramfs file found for this kernel
    builtin_modules: tuple[str, ...] | None = None  # modules.builtin, normalised; None: no modules.builtin

    def provides(self, module: str) -> tuple[bool | None, str]:
        """Whether the module is available at boot (built in, or in the initramfs), and how."""
        name = module.replace("-", "_")
        if self.builtin_modules is not None and name in self.builtin_modules:
            return True, "built in"
        in_initramfs = self.initramfs.has_module(name) if self.initramfs is not None else False
        if in_initramfs:
            return True, "in the initramfs"
        if in_initramfs is None or self.builtin_modules is None:
            return None, "unknown"
        return False, "missing"


class BootEntry(_Frozen):
    """One boot menu entry, as the bootloader would boot it."""

    title: str | None = None
    kernel: str | None = None  # the path as written ("/vmlinuz-6.1.0-57-cloud-amd64", "/boot/vmlinuz-...")
    kernel_resolved: str | None = None  # the path in the root it names, when it exists
    initrd: tuple[str, ...] = ()
    cmdline: str | None = None
    source: str  # the file it came from ("/boot/grub/grub.cfg", "/boot/loader/entries/x.conf")


class BootloaderFacts(_Frozen):
    kind: str | None  # "grub", "systemd-boot", "efi" (an EFI loader whose config is not read), None: none found
    config_files: tuple[str, ...] = ()
    entries: tuple[BootEntry, ...] = ()
    default_index: int | None = None  # index into ``entries``
    default_reason: str | None = None  # "set default=\"0\"", "saved_entry in /boot/grub/grubenv", ...
    efi_loaders: tuple[str, ...] = ()  # loader files found on the EFI system partition
    bios_loader: str | None = None  # "/boot/grub/i386-pc" when GRUB's BIOS modules are installed

    @property
    def default_entry(self) -> BootEntry | None:
        if self.default_index is None or not 0 <= self.default_index < len(self.entries):
            return None
        return self.entries[self.default_index]


class BootFacts(_Frozen):
    kernels: tuple[BootKernel, ...]  # oldest to newest
    default_kernel: str | None  # the version the bootloader boots by default (or the newest, see reason)
    default_reason: str | None  # how the default was decided
    bootloader: BootloaderFacts
    cmdline: str | None  # the default entry's command line, else /etc/default/grub's, else /etc/kernel/cmdline
    cmdline_source: str | None = None

    def kernel(self, version: str | None = None) -> BootKernel | None:
        wanted = version or self.default_kernel
        return next((k for k in self.kernels if k.version == wanted), None)


# --- disk and mounts -----------------------------------------------------------------------


class VolumeFacts(_Frozen):
    """A partition or logical volume, and the identity of the filesystem on it."""

    location: str  # "partition 1", "LV rootvg/rootlv", "whole disk"
    partition: int | None = None  # the partition number (what /dev/sda1's "1" names)
    filesystem: str | None = None  # "ext4", "xfs", "vfat", "swap", ...
    uuid: str | None = None  # the filesystem UUID (vfat: "ABCD-1234"), lower case
    label: str | None = None
    partuuid: str | None = None  # GPT partition GUID, or MBR "<disk signature>-<nn>"
    partlabel: str | None = None
    part_type: str | None = None  # "efi", "bios-boot", "swap", "linux", ...
    device_paths: tuple[str, ...] = ()  # "/dev/mapper/rootvg-rootlv", "/dev/rootvg/rootlv" for an LV
    size_bytes: int | None = None
    is_root: bool = False


class DiskFacts(_Frozen):
    scheme: str | None  # "gpt", "mbr", "none"; None: unknown (a live node)
    volumes: tuple[VolumeFacts, ...]
    mbr_boot_code: bool | None = None  # the MBR's first 440 bytes are not all zero
    source: str  # "image" (the partition table) or "live" (/dev/disk/by-*)

    @property
    def root(self) -> VolumeFacts | None:
        return next((v for v in self.volumes if v.is_root), None)

    def find(self, spec: str) -> VolumeFacts | None:
        """The volume an fstab spec names: by UUID, LABEL, PARTUUID, PARTLABEL (or their
        /dev/disk/by-* links), an LV's device path, or an OS disk partition's kernel name."""
        tag = spec_tag(spec)
        if tag is None:
            return None
        kind, value = tag
        for volume in self.volumes:
            if kind == "UUID" and volume.uuid is not None and volume.uuid.lower() == value.lower():
                return volume
            if kind == "PARTUUID" and volume.partuuid is not None and volume.partuuid.lower() == value.lower():
                return volume
            if (kind == "LABEL" and volume.label == value) or (kind == "PARTLABEL" and volume.partlabel == value):
                return volume
            if kind == "PATH" and value in volume.device_paths:
                return volume
        if kind == "PATH" and self.source == "image":
            named = partition_number(value)
            if named is not None and named[0] in OS_DISK_NAMES:
                return next((v for v in self.volumes if v.partition == named[1]), None)
        return None

    def swap_volumes(self) -> tuple[VolumeFacts, ...]:
        return tuple(v for v in self.volumes if v.filesystem == "swap" or v.part_type == "swap")


class FstabEntry(_Frozen):
    line: int
    spec: str  # "UUID=...", "LABEL=...", "/dev/sda1"
    mount_point: str
    fstype: str
    options: tuple[str, ...]

    @property
    def nofail(self) -> bool:
        return "nofail" in self.options or "noauto" in self.options


class MountFacts(_Frozen):
    fstab_present: bool
    entries: tuple[FstabEntry, ...]
    swap_files: tuple[str, ...] = ()  # swap entries that name a file, and that file exists in the root


# --- provisioning and generalisation --------------------------------------------------------


class ProvisioningFacts(_Frozen):
    waagent_installed: bool
    waagent_path: str | None = None
    waagent_enabled: bool | None = None  # its service starts on boot
    waagent_unit: str | None = None
    cloud_init_installed: bool
    cloud_init_path: str | None = None
    cloud_init_enabled: bool | None = None
    cloud_init_disabled_by: str | None = None  # "/etc/cloud/cloud-init.disabled", "cloud-init=disabled on the kernel command line"
    datasources: tuple[str, ...] | None = None  # cloud-init's datasource_list; None: not set (cloud-init's default list)
    datasource_files: tuple[str, ...] = ()  # the files that set it, in the order read
    provisioning_agent: str | None = None  # waagent.conf Provisioning.Agent ("auto" when not set)


class Leftover(_Frozen):
    """A machine-specific file that a generalised image must not carry."""

    kind: str  # "machine-id", "ssh-host-key", "waagent-state", "cloud-init-state", "authorized-keys", "udev-net-rules"
    path: str
    detail: str  # what was found
    fix: str  # the command that removes it


class GeneralizationFacts(_Frozen):
    leftovers: tuple[Leftover, ...]


# --- Hyper-V generation ---------------------------------------------------------------------


class Generation(_Frozen):
    """The Hyper-V generations the disk can boot as: 1 (BIOS, MBR or GPT with a BIOS boot
    partition), 2 (UEFI: GPT with an EFI system partition), and why."""

    generations: tuple[int, ...]  # (), (1,), (2,) or (1, 2)
    reason: str


def boot_generation(disk: DiskFacts, bootloader: BootloaderFacts | None) -> Generation:
    """From the partition scheme, as Azure decides which generation an image can be published as."""
    parts = {v.part_type for v in disk.volumes}
    loaders = bootloader.efi_loaders if bootloader is not None else ()
    bios_loader = bootloader.bios_loader if bootloader is not None else None
    if disk.scheme == "gpt":
        found: list[int] = []
        why: list[str] = []
        if "bios-boot" in parts:
            found.append(1)
            why.append("a BIOS boot partition")
        if "efi" in parts:
            found.append(2)
            why.append("an EFI system partition" + (f" with {loaders[0]}" if loaders else ", but no EFI loader found on it"))
        if not found:
            return Generation(generations=(), reason="GPT with neither an EFI system partition (Generation 2) nor a BIOS boot partition (Generation 1)")
        return Generation(generations=tuple(found), reason="GPT with " + " and ".join(why))
    if disk.scheme == "mbr":
        if disk.mbr_boot_code or bios_loader:
            how = "boot code in the MBR" if disk.mbr_boot_code else f"GRUB for BIOS ({bios_loader})"
            return Generation(generations=(1,), reason=f"MBR with {how}")
        return Generation(generations=(), reason="MBR with no boot code in it and no GRUB for BIOS: no BIOS boot path (Generation 1), and Generation 2 needs GPT")
    return Generation(generations=(), reason=f"no partition table ({disk.scheme or 'unknown'}): Azure boots a partitioned disk")
