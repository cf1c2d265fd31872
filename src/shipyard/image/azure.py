"""Azure's own rules for an uploaded OS-disk VHD: what the service would refuse, and the fix."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.image.vhd import (
    FOOTER_BYTES,
    MIB,
    PAGE_BLOB_MAX_BYTES,
    UPLOAD_MAX_BYTES,
    UPLOAD_MIN_BYTES,
    DiskImage,
    convert_command,
)


@dataclass(frozen=True)
class AzureProblem:
    """Something Azure will refuse: a stable id, what was found, what is required and the fix."""

    id: str  # vhd.format, vhd.alignment, vhd.footer, vhd.size: the rule that fails it
    found: str
    required: str
    fix: str  # the command that fixes it

    @property
    def message(self) -> str:
        """What was found and what is required, in one line (a rule's message)."""
        return f"{self.found}; required: {self.required}"


def azure_problems(disk: DiskImage) -> list[AzureProblem]:
    """Azure's own rules for an uploaded OS-disk VHD, applied to an opened image.

    A fix names the image's file; for an image that is not a local file (a blob read in place)
    it says to download it first (``DiskImage.hint``), and never carries more than its bare name.
    """
    problems: list[AzureProblem] = []
    fix = disk.hint(f"convert it with `{convert_command(disk.hint_path)}`: it writes a fixed VHD rounded up to a "
                    "whole MiB")
    if disk.format != "vhd-fixed":
        found = {"vhd-dynamic": "a dynamic VHD", "raw": "a raw disk image with no VHD footer"}.get(disk.format)
        problems.append(AzureProblem("vhd.format", found or disk.format, "a fixed VHD", fix))
    if disk.size_bytes % MIB:
        problems.append(AzureProblem(
            "vhd.alignment", f"virtual size {disk.size_bytes} bytes is not a whole number of MiB",
            f"a multiple of {MIB} bytes (next: {-(-disk.size_bytes // MIB) * MIB})", fix))
    if disk.format == "vhd-fixed":
        data_bytes = disk.file_size_bytes - FOOTER_BYTES
        if data_bytes % MIB:
            problems.append(AzureProblem(
                "vhd.alignment", f"file size {disk.file_size_bytes} bytes minus the 512-byte footer is not a "
                "whole number of MiB", "(file size - 512) a multiple of 1 MiB", fix))
        footer = disk.footer
        assert footer is not None
        if not footer.checksum_valid:
            problems.append(AzureProblem("vhd.footer", f"footer checksum 0x{footer.checksum:08x} does not match "
                                         "its contents", "a valid footer checksum",
                                         disk.hint(f"`{convert_command(disk.hint_path)}` copies the data and "
                                                   "writes a correct footer")))
        if footer.current_size_bytes != data_bytes:
            problems.append(AzureProblem(
                "vhd.footer", f"footer current size {footer.current_size_bytes} bytes differs from the "
                f"{data_bytes} data bytes before it", "current size equal to file size - 512", fix))
    total = disk.size_bytes + FOOTER_BYTES
    if total < UPLOAD_MIN_BYTES:
        minimum = f"{(UPLOAD_MIN_BYTES - FOOTER_BYTES) // MIB}M"
        problems.append(AzureProblem(
            "vhd.size", f"{total} bytes with the footer",
            f"{UPLOAD_MIN_BYTES} to {UPLOAD_MAX_BYTES} bytes for a managed-disk upload",
            disk.hint(f"grow it with `{convert_command(disk.hint_path, None, '--size', minimum)}` (the partitions "
                      "stay as they are), or rebuild it with `shipyard image build ROOTFS DST.vhd --size 30G`")))
    elif total > UPLOAD_MAX_BYTES:
        problems.append(AzureProblem(
            "vhd.size", f"{total} bytes with the footer",
            f"{UPLOAD_MIN_BYTES} to {UPLOAD_MAX_BYTES} bytes for a managed-disk upload",
            "rebuild it smaller with `shipyard image build ROOTFS DST.vhd --size SIZE` (at most 32 TiB)"))
    if total > PAGE_BLOB_MAX_BYTES:
        problems.append(AzureProblem(
            "vhd.size", f"{total} bytes with the footer", f"at most {PAGE_BLOB_MAX_BYTES} bytes (8 TiB) for a page blob",
            "rebuild it smaller with `shipyard image build ROOTFS DST.vhd --size SIZE` (below 8 TiB)"))
    return problems
