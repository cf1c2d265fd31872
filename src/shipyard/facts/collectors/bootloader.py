"""The bootloader and what it boots by default: GRUB 2 (its own menu or BLS entries),
systemd-boot, or a bare EFI loader; and the kernel command line.

Paths in a boot entry are as the loader sees them, on the partition it reads: with a separate
``/boot`` partition GRUB's ``/vmlinuz-X`` is ``/boot/vmlinuz-X`` here, and a systemd-boot
entry's ``/vmlinuz`` lives on the EFI system partition. Each entry's kernel is resolved against
those places; ``kernel_resolved`` is None when none holds it.
"""

from __future__ import annotations

import fnmatch
import re

from shipyard.facts.boot import BootEntry, BootKernel, BootloaderFacts
from shipyard.facts.collectors.common import is_file, list_optional, parse_env_file
from shipyard.facts.collectors.kernel import linked_kernel
from shipyard.facts.collectors.grub import GrubMenu, default_entry, expand, read_grub_menu, read_grubenv
from shipyard.sources.base import FileSource, read_optional

ESP_MOUNTS = ("/boot/efi", "/efi", "/boot")
BLS_DIRS = ("/boot/loader/entries", "/boot/efi/loader/entries", "/efi/loader/entries")
EFI_LOADER_NAMES = ("bootx64.efi", "bootaa64.efi", "shimx64.efi", "shimaa64.efi", "grubx64.efi", "grubaa64.efi",
                    "systemd-bootx64.efi", "systemd-bootaa64.efi")


def _version_key(text: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+_~]", text)]


def resolve_kernel(source: FileSource, path: str | None, roots: tuple[str, ...] = ("", "/boot")) -> str | None:
    """Where a loader's kernel path is in the root: as written, or on a separate /boot."""
    if not path:
        return None
    path = re.sub(r"^\([^)]*\)", "", path)  # GRUB's (hd0,gpt1)/vmlinuz
    for root in roots:
        candidate = root + path if path.startswith("/") else f"{root}/{path}"
        if is_file(source, candidate):
            return candidate
    return None


def _efi_loaders(source: FileSource) -> tuple[str, ...]:
    found: list[str] = []
    for mount in ESP_MOUNTS:
        for vendor in list_optional(source, f"{mount}/EFI"):
            for name in list_optional(source, f"{mount}/EFI/{vendor}"):
                if name.lower() in EFI_LOADER_NAMES and is_file(source, f"{mount}/EFI/{vendor}/{name}"):
                    found.append(f"{mount}/EFI/{vendor}/{name}")
        if found:
            break
    # the removable-media fallback first: it is what firmware boots with no NVRAM entry (Azure's)
    return tuple(sorted(found, key=lambda p: (not p.upper().endswith(("/BOOT/BOOTX64.EFI", "/BOOT/BOOTAA64.EFI")), p)))


def _bls_entries(source: FileSource, grubenv: dict[str, str]) -> tuple[list[BootEntry], list[str]]:
    """Boot Loader Specification entries, newest version first (as GRUB's blscfg and
    systemd-boot sort them), with their ids (file names without .conf)."""
    found: list[tuple[str, str, dict[str, str]]] = []
    for directory in BLS_DIRS:
        for name in list_optional(source, directory):
            if not name.endswith(".conf"):
                continue
            text = read_optional(source, f"{directory}/{name}")
            if text is None:
                continue
            keys: dict[str, str] = {}
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    key, _, value = line.partition(" ")
                    keys[key] = f"{keys[key]} {value.strip()}" if key == "initrd" and key in keys else value.strip()
            found.append((directory, name[:-5], keys))
    found.sort(key=lambda item: _version_key(item[2].get("version", item[1])), reverse=True)
    entries: list[BootEntry] = []
    ids: list[str] = []
    for directory, entry_id, keys in found:
        esp = directory.rpartition("/loader/entries")[0]
        kernel = keys.get("linux")
        options = expand(keys.get("options", ""), grubenv) if "options" in keys else None
        entries.append(BootEntry(
            title=keys.get("title"), kernel=kernel,
            kernel_resolved=resolve_kernel(source, kernel, ("", "/boot", esp) if esp else ("", "/boot")),
            initrd=tuple(keys.get("initrd", "").split()), cmdline=options.strip() if options is not None else None,
            source=f"{directory}/{entry_id}.conf",
        ))
        ids.append(entry_id)
    return entries, ids


def _from_grub(source: FileSource, menu: GrubMenu, efi: tuple[str, ...], bios: str | None) -> BootloaderFacts:
    if menu.blscfg:
        grubenv = dict(menu.variables)
        entries, ids = _bls_entries(source, grubenv)
        wanted = menu.variables.get("default") or menu.variables.get("saved_entry") or ""
        index = ids.index(wanted) if wanted in ids else (0 if entries and wanted in ("", "0") else None)
        if index is None and wanted.isdigit() and int(wanted) < len(entries):
            index = int(wanted)
        reason = f"saved_entry {wanted}" if index is not None and wanted else "the newest BLS entry"
        if index is None:
            reason = f"default {wanted!r} names no BLS entry"
        return BootloaderFacts(kind="grub", config_files=tuple(menu.files), entries=tuple(entries),
                               default_index=index, default_reason=reason, efi_loaders=efi, bios_loader=bios)
    grub_entries = list(menu.entries)
    index, reason = default_entry(menu, grub_entries)
    menu_entries = tuple(
        BootEntry(title=e.title, kernel=e.kernel, kernel_resolved=resolve_kernel(source, e.kernel),
                  initrd=e.initrd, cmdline=e.cmdline, source=e.source)
        for e in grub_entries
    )
    return BootloaderFacts(kind="grub", config_files=tuple(menu.files), entries=menu_entries, default_index=index,
                           default_reason=reason, efi_loaders=efi, bios_loader=bios)


def _systemd_boot(source: FileSource, efi: tuple[str, ...]) -> BootloaderFacts | None:
    for mount in ESP_MOUNTS:
        conf = f"{mount}/loader/loader.conf"
        text = read_optional(source, conf)
        if text is None:
            continue
        settings: dict[str, str] = {}
        for line in text.splitlines():
            key, _, value = line.strip().partition(" ")
            if key and not key.startswith("#"):
                settings[key] = value.strip()
        entries, ids = _bls_entries(source, {})
        pattern = settings.get("default", "").strip()
        index: int | None = 0 if entries else None
        reason = "the newest entry" if entries else "no entry"
        if pattern and entries:
            matches = [i for i, entry_id in enumerate(ids) if fnmatch.fnmatchcase(entry_id, pattern.removesuffix(".conf"))]
            index = matches[0] if matches else None
            reason = f"default {pattern} in {conf}" if matches else f"default {pattern} in {conf} matches no entry"
        return BootloaderFacts(kind="systemd-boot", config_files=(conf,), entries=tuple(entries),
                               default_index=index, default_reason=reason, efi_loaders=efi)
    return None


def collect_bootloader(source: FileSource) -> BootloaderFacts:
    efi = _efi_loaders(source)
    bios = next((d for d in ("/boot/grub/i386-pc", "/boot/grub2/i386-pc") if source.exists(d)), None)
    menu = read_grub_menu(source)
    if menu is not None:
        return _from_grub(source, menu, efi, bios)
    systemd_boot = _systemd_boot(source, efi)
    if systemd_boot is not None:
        return systemd_boot
    return BootloaderFacts(kind="efi" if efi else None, efi_loaders=efi, bios_loader=bios)


def default_kernel(bootloader: BootloaderFacts, kernels: tuple[BootKernel, ...], source: FileSource) -> tuple[str | None, str | None]:
    """The version booted by default, and how that was decided."""
    entry = bootloader.default_entry
    if entry is not None and entry.kernel_resolved is not None:
        for kernel in kernels:
            if kernel.path == entry.kernel_resolved:
                return kernel.version, f"the default boot entry ({entry.source})"
    linked = linked_kernel(source, [k.version for k in kernels])
    if linked is not None:
        return linked
    if kernels:
        return kernels[-1].version, "no boot entry names a kernel: the newest"
    return None, None


def kernel_cmdline(source: FileSource, bootloader: BootloaderFacts) -> tuple[str | None, str | None]:
    """The command line the default entry boots with, else what GRUB's next menu would be built
    with (/etc/default/grub, then /etc/default/grub.d/*.cfg, as grub-mkconfig sources them), else
    /etc/kernel/cmdline (kernel-install, UKIs)."""
    entry = bootloader.default_entry
    if entry is not None and entry.cmdline is not None:
        return entry.cmdline, entry.source
    values: dict[str, str] = {}
    files: list[str] = []
    for path in ["/etc/default/grub", *[f"/etc/default/grub.d/{n}" for n in list_optional(source, "/etc/default/grub.d") if n.endswith(".cfg")]]:
        text = read_optional(source, path)
        if text is not None:
            files.append(path)
            for key, value in parse_env_file(text).items():
                values[key] = expand(value, values)
    if files and ("GRUB_CMDLINE_LINUX" in values or "GRUB_CMDLINE_LINUX_DEFAULT" in values):
        line = " ".join(v for v in (values.get("GRUB_CMDLINE_LINUX", ""), values.get("GRUB_CMDLINE_LINUX_DEFAULT", "")) if v)
        return line, ", ".join(files)
    text = read_optional(source, "/etc/kernel/cmdline")
    if text is not None:
        return " ".join(text.split()), "/etc/kernel/cmdline"
    return None, None


__all__ = ["collect_bootloader", "default_kernel", "kernel_cmdline", "read_grubenv", "resolve_kernel"]
