"""Boot rules: a kernel the bootloader boots, Azure's Hyper-V drivers at boot, the serial
console, and the Hyper-V generation the disk can boot as."""

from __future__ import annotations

from shipyard.facts.boot import HYPERV_MODULES, boot_generation
from shipyard.facts.evidence import Evidence
from shipyard.results import Outcome, Severity
from shipyard.rules.base import Rule, linux_only
from shipyard.rules.context import PoolContext

SERIAL_CONSOLES = ("ttyS0", "ttyAMA0")  # Azure's serial console: x86 and arm64


def _kernel(evidence: Evidence, pool: PoolContext) -> Outcome:
    boot = evidence.facts.boot
    if boot is None:
        return Outcome.unknown("the boot files could not be read")
    if not boot.kernels:
        return Outcome.bad("no kernel in the image: /boot/vmlinuz-* and /usr/lib/modules/*/vmlinuz are missing")
    loader = boot.bootloader
    entry = loader.default_entry
    if entry is not None:
        where = f"the default boot entry{_title(entry.title)} ({entry.source}"
        where += f", {loader.default_reason})" if loader.default_reason else ")"
        if entry.kernel is None:
            return Outcome.bad(f"{where} names no kernel")
        if entry.kernel_resolved is None:
            return Outcome.bad(f"{where} boots {entry.kernel}, which is not in the image")
        kernel = next((k for k in boot.kernels if k.path == entry.kernel_resolved), None)
        if kernel is None:
            return Outcome.bad(f"{where} boots {entry.kernel_resolved}, which is not a kernel")
        return Outcome.ok(f"{where} boots kernel {kernel.version}")
    versions = ", ".join(k.version for k in boot.kernels)
    if loader.kind is None:
        return Outcome.bad(f"kernel {versions} is in the image, but no bootloader is: no grub.cfg, systemd-boot entry or EFI loader")
    if loader.kind == "efi":
        loaders = ", ".join(loader.efi_loaders) or "an EFI loader"
        return Outcome.unknown(f"{loaders} boots the image, but which kernel it boots cannot be read offline")
    files = ", ".join(loader.config_files) or loader.kind
    return Outcome.bad(f"{files} has no boot entry, so no kernel is booted (kernels in the image: {versions})")


def _title(title: str | None) -> str:
    return f" '{title}'" if title else ""


def _hyperv_drivers(evidence: Evidence, pool: PoolContext) -> Outcome:
    boot = evidence.facts.boot
    if boot is None:
        return Outcome.unknown("the boot files could not be read")
    kernel = boot.kernel()
    if kernel is None:
        return Outcome.unknown("no default kernel to check (see boot.kernel)")
    found: dict[str, str] = {}
    missing: list[str] = []
    unknown: list[str] = []
    for module in HYPERV_MODULES:
        present, how = kernel.provides(module)
        if present:
            found[module] = how
        elif present is None:
            unknown.append(module)
        else:
            missing.append(module)
    initramfs = kernel.initramfs
    if missing:
        where = f"its initramfs {initramfs.path}" if initramfs is not None else "an initramfs (there is none for it)"
        return Outcome.bad(
            f"{', '.join(missing)} neither built into kernel {kernel.version} nor in {where}: "
            "Azure's disks and network are invisible at boot"
        )
    if unknown:
        if initramfs is not None and initramfs.error:
            why = f"its initramfs {initramfs.path} could not be read ({initramfs.error})"
        elif kernel.builtin_modules is None:
            why = f"kernel {kernel.version} has no modules.builtin"
        else:
            why = "the initramfs could not be read"
        return Outcome.unknown(f"whether {', '.join(unknown)} load at boot is unknown: {why}")
    return Outcome.ok(f"kernel {kernel.version}: " + ", ".join(f"{m} {how}" for m, how in found.items()))


def _console(evidence: Evidence, pool: PoolContext) -> Outcome:
    boot = evidence.facts.boot
    if boot is None:
        return Outcome.unknown("the boot files could not be read")
    if boot.cmdline is None:
        return Outcome.unknown("no kernel command line found (no boot entry, /etc/default/grub or /etc/kernel/cmdline)")
    consoles = [word.partition("=")[2] for word in boot.cmdline.split() if word.startswith("console=")]
    serial = next((c for c in consoles if c.split(",")[0] in SERIAL_CONSOLES), None)
    source = f" (from {boot.cmdline_source})" if boot.cmdline_source else ""
    if serial is not None:
        return Outcome.ok(f"console={serial}{source}")
    named = f"console={', console='.join(consoles)}" if consoles else "no console="
    return Outcome.bad(f"the kernel command line{source} has {named}: boot messages and the serial console stay empty")


def _offline_image(evidence: Evidence, pool: PoolContext) -> str | None:
    reason = linux_only(evidence, pool)
    if reason:
        return reason
    disk = evidence.facts.disk
    if disk is None or disk.source != "image":
        return "not an image file: the generation is read from a disk's partition table"
    return None


def _generation(evidence: Evidence, pool: PoolContext) -> Outcome:
    disk = evidence.facts.disk
    if disk is None:  # _offline_image keeps these away
        return Outcome.unknown("the partition table could not be read")
    boot = evidence.facts.boot
    generation = boot_generation(disk, boot.bootloader if boot is not None else None)
    if not generation.generations:
        return Outcome.unknown(f"no Hyper-V generation: {generation.reason}")
    names = " and ".join(str(g) for g in generation.generations)
    plural = "s" if len(generation.generations) > 1 else ""
    return Outcome.ok(f"Generation{plural} {names}: {generation.reason}")


RULES = (
    Rule(
        "boot.kernel", Severity.ERROR, "a kernel is in the image, and the bootloader's default entry boots one that exists",
        "install the distribution's kernel package (linux-image-azure, kernel) and regenerate the boot menu: "
        "update-grub (grub2-mkconfig -o /boot/grub2/grub.cfg), or kernel-install for systemd-boot",
        _kernel, linux_only,
    ),
    Rule(
        "boot.hyperv_drivers", Severity.ERROR,
        "hv_vmbus, hv_storvsc and hv_netvsc are built into the default kernel or in its initramfs",
        "add hv_vmbus, hv_storvsc and hv_netvsc to /etc/initramfs-tools/modules and run update-initramfs -u "
        "(dracut: add_drivers+=\" hv_vmbus hv_storvsc hv_netvsc \" in /etc/dracut.conf.d/, then dracut -f)",
        _hyperv_drivers, linux_only,
    ),
    Rule(
        "boot.console", Severity.WARNING, "the kernel command line sends the console to ttyS0 (serial console, boot diagnostics)",
        "add console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0 to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub",
        _console, linux_only,
    ),
    Rule(
        "boot.generation", Severity.INFO, "the Hyper-V generation the disk boots as: 1 (BIOS) or 2 (UEFI: GPT with an EFI system partition)",
        "for Generation 2, use GPT with an EFI system partition holding the loader (image build --table gpt --esp); "
        "for Generation 1, install GRUB for BIOS (grub-install --target=i386-pc)",
        _generation, _offline_image,
    ),
)
