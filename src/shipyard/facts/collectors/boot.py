"""The boot facts, assembled: the kernels and their initramfs, the bootloader, which kernel it
boots by default, and the kernel command line."""

from __future__ import annotations

from shipyard.facts.boot import BootFacts
from shipyard.facts.collectors.bootloader import collect_bootloader, default_kernel, kernel_cmdline
from shipyard.facts.collectors.kernels import InitramfsScans, collect_kernels
from shipyard.sources.base import FileSource


def collect_boot(source: FileSource, scans: InitramfsScans | None = None) -> BootFacts:
    kernels = collect_kernels(source, scans)
    bootloader = collect_bootloader(source)
    version, reason = default_kernel(bootloader, kernels, source)
    cmdline, cmdline_source = kernel_cmdline(source, bootloader)
    return BootFacts(kernels=kernels, default_kernel=version, default_reason=reason, bootloader=bootloader,
                     cmdline=cmdline, cmdline_source=cmdline_source)
