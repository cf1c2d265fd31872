"""Kernel modules per installed kernel, modules loaded at boot, and modprobe blacklists.

A kernel's modules come from its ``modules.dep`` (what modprobe can load) plus a walk of the
few directories out-of-tree drivers use (``updates/``, ``extra/``, ``kernel/nvidia*``, DKMS), so a
driver copied in without ``depmod`` is still seen. The whole ``kernel/`` tree is never walked.
"""

from __future__ import annotations

import re

from shipyard.facts.collectors.common import list_optional
from shipyard.sources.base import read_optional
from shipyard.facts.model import KernelFacts, KernelModuleFacts
from shipyard.sources.base import FileKind, FileSource

MODULE_ROOTS = ("/lib/modules", "/usr/lib/modules")
WATCHED_MODULES = re.compile(r"^(nvidia[\w-]*|nouveau|mlx4_ib|mlx5_ib|mlx4_core|mlx5_core|ib_uverbs|rdma_ucm|ib_ipoib)$")
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")
EXTRA_DIRS = ("updates", "extra", "kernel/drivers/video", "kernel/drivers/infiniband", "misc")
MAX_WALK_DEPTH = 6
LOAD_DIRS = ("/etc/modules-load.d", "/run/modules-load.d", "/usr/lib/modules-load.d", "/lib/modules-load.d")
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d")
_DEP_LINE = re.compile(r"^([^:\s]*/)?([^/:\s]+?)\.ko(?:\.\w+)?:", re.MULTILINE)
_CMDLINE_BLACKLIST = re.compile(r"(?:modprobe|rd\.driver)\.blacklist=([\w,-]+)")
_BLOCKING_INSTALL = re.compile(r"^install\s+(\S+)\s+(/bin/|/usr/bin/)?(false|true)\b")


def _module_name(filename: str) -> str | None:
    for suffix in MODULE_SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)].replace("-", "_")
    return None


def _version_key(version: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+_~]", version)]


def _walk_modules(source: FileSource, directory: str, prefix: str, depth: int, found: dict[str, str]) -> None:
    for name in list_optional(source, directory):
        path = f"{directory}/{name}"
        module = _module_name(name)
        if module is not None:
            if WATCHED_MODULES.match(module):
                found.setdefault(module, path[len(prefix) + 1 :])
            continue
        if depth < MAX_WALK_DEPTH and "." not in name:
            try:
                is_dir = source.stat(path).kind == FileKind.DIRECTORY
            except OSError:
                continue
            if is_dir:
                _walk_modules(source, path, prefix, depth + 1, found)


def collect_kernel(source: FileSource, root: str, version: str) -> KernelFacts:
    base = f"{root}/{version}"
    modules: dict[str, str] = {}
    dep = read_optional(source, f"{base}/modules.dep")
    if dep is not None:
        for match in _DEP_LINE.finditer(dep):
            name = match[2].replace("-", "_")
            if WATCHED_MODULES.match(name):
                modules.setdefault(name, match[0][:-1])
    extra_dirs = list(EXTRA_DIRS) + [f"kernel/{n}" for n in list_optional(source, f"{base}/kernel") if n.startswith("nvidia")]
    for extra in extra_dirs:
        _walk_modules(source, f"{base}/{extra}", base, 1, modules)
    return KernelFacts(version=version, modules=modules, has_modules_dep=dep is not None)


def linked_kernel(source: FileSource, versions: list[str]) -> tuple[str, str] | None:
    """The version Debian's /boot/vmlinuz (or /vmlinuz) link points to, and the link as
    "/boot/vmlinuz -> vmlinuz-V"; None without such a link to one of ``versions``."""
    for link in ("/boot/vmlinuz", "/vmlinuz"):
        try:
            target = source.readlink(link)
        except OSError:
            continue
        version = target.rpartition("/")[2].removeprefix("vmlinuz-")
        if version in versions:
            return version, f"{link} -> {target}"
    return None


def find_default_kernel(source: FileSource, versions: list[str]) -> str | None:
    """The kernel /boot/vmlinuz (or /vmlinuz) points to, else the newest installed."""
    linked = linked_kernel(source, versions)
    if linked is not None:
        return linked[0]
    return versions[-1] if versions else None


def _config_files(source: FileSource, directories: tuple[str, ...], suffix: str) -> list[str]:
    """systemd-style config dirs: a file name in an earlier dir shadows later ones; sorted by name."""
    files: dict[str, str] = {}
    for directory in directories:
        for name in list_optional(source, directory):
            if name.endswith(suffix) and name not in files:
                files[name] = f"{directory}/{name}"
    return [files[n] for n in sorted(files)]


def _config_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and line.strip()[0] not in "#;"]


def collect_kernel_modules(source: FileSource) -> KernelModuleFacts:
    """Per-kernel watched modules, boot-time loads and blacklists. A tree with no kernel is a
    known absence (no ``kernels``), not unknown: unreadable files raise instead."""
    kernels: dict[str, KernelFacts] = {}
    for root in MODULE_ROOTS:
        for version in list_optional(source, root):
            if version in kernels:
                continue  # usrmerge: the same tree listed twice
            if source.exists(f"{root}/{version}/kernel") or source.exists(f"{root}/{version}/modules.dep"):
                kernels[version] = collect_kernel(source, root, version)
    files: list[str] = []
    load: list[str] = []
    for path in _config_files(source, LOAD_DIRS, ".conf"):
        files.append(path)
        load += [line.split()[0] for line in _config_lines(read_optional(source, path) or "")]
    etc_modules = read_optional(source, "/etc/modules")
    if etc_modules is not None:
        files.append("/etc/modules")
        load += [line.split()[0] for line in _config_lines(etc_modules)]
    blacklisted: list[str] = []
    for path in _config_files(source, MODPROBE_DIRS, ".conf"):
        files.append(path)
        for line in _config_lines(read_optional(source, path) or ""):
            words = line.split()
            if (words[0] == "blacklist" and len(words) > 1) or _BLOCKING_INSTALL.match(line):
                blacklisted.append(words[1].replace("-", "_"))
    for path in ["/etc/default/grub", *_config_files(source, ("/etc/default/grub.d",), ".cfg")]:
        text = read_optional(source, path)
        if text is not None:
            files.append(path)
            for names in _CMDLINE_BLACKLIST.findall("\n".join(_config_lines(text))):
                blacklisted += [n.replace("-", "_") for n in names.split(",") if n]
    versions = sorted(kernels, key=_version_key)
    return KernelModuleFacts(
        kernels=tuple(kernels[v] for v in versions),
        default_kernel=find_default_kernel(source, versions),
        load_at_boot=tuple(dict.fromkeys(m.replace("-", "_") for m in load)),
        blacklisted=tuple(dict.fromkeys(blacklisted)),
        files=tuple(files),
    )
