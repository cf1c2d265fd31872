"""The initramfs reader, on archives made by the real tools from the real Debian cloud kernel:
mkinitramfs (with ``lsinitramfs`` as the oracle), and ``cpio -H newc`` of the kernel's module
files compressed by gzip, zstd, xz, ``lz4 -l``, bzip2 and ``xz --format=lzma`` (``cpio -t`` the
oracle); concatenated as the kernel reads them, padded, truncated, corrupted, and a bomb."""

from __future__ import annotations

import functools
import re
import subprocess
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.kernel import (
    COMPRESSORS,
    HYPERV_MODULES,
    KernelTree,
    compress,
    cpio_list,
    cpio_newc,
    early_microcode_cpio,
    lsinitramfs,
    modules_cpio,
    with_parents,
    zeros_cpio,
)

from shipyard.errors import ImageFormatError
from shipyard.image.initramfs import InitramfsError, read_initramfs

KINDS = sorted(COMPRESSORS)
# file names with "-" (dm-mod.ko, crc32c-intel.ko) and "_" (hv_vmbus.ko, scsi_transport_fc.ko)
MODULES = (*HYPERV_MODULES, "dm_mod", "crc32c_intel", "scsi_transport_fc")
_LISTED_MODULE = re.compile(r"^(?:\./)?(?:usr/)?lib/modules/[^/]+/.*/([^/]+?)\.ko(?:\.xz|\.zst|\.gz)?$")


@dataclass(frozen=True)
class Archive:
    data: bytes  # one uncompressed newc archive
    entries: list[str]  # cpio -t's listing of it


@pytest.fixture(scope="module")
def archive(debian_kernel: KernelTree) -> Archive:
    data = modules_cpio(debian_kernel, MODULES)
    return Archive(data, cpio_list(data))


@pytest.fixture(scope="module")
def packed(archive: Archive) -> Callable[[str], bytes]:
    """The archive compressed by the tool for a kind, each made once."""
    return functools.lru_cache(maxsize=None)(lambda kind: compress(archive.data, kind))


@pytest.fixture(scope="module")
def early(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    blob = bytes(range(256)) * 40  # a microcode blob's stand-in: the reader skips file data unread
    data = early_microcode_cpio(tmp_path_factory.mktemp("early"), blob)
    return Archive(data, cpio_list(data))


def one_line_error(data: bytes, **caps: int) -> str:
    with pytest.raises(InitramfsError) as caught:
        read_initramfs(data, **caps)
    assert isinstance(caught.value, ImageFormatError)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def modules_listed(entries: list[str]) -> list[str]:
    """The normalised names of the module files in a listing (cpio -t's, lsinitramfs')."""
    found = {m.group(1).replace("-", "_") for m in map(_LISTED_MODULE.match, entries) if m}
    return sorted(found)


# --- every compression, and names ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_compression(archive: Archive, packed: Callable[[str], bytes], debian_kernel: KernelTree, kind: str) -> None:
    contents = read_initramfs(packed(kind))
    assert contents.segments == (kind,)
    assert contents.files == len(archive.entries)
    assert contents.kernel_versions == (debian_kernel.version,)
    assert contents.modules == tuple(sorted(MODULES)) == tuple(modules_listed(archive.entries))
    assert contents.unpacked_bytes == len(archive.data)


def test_uncompressed(archive: Archive) -> None:
    contents = read_initramfs(archive.data)
    assert contents.segments == ("none",)
    assert (contents.files, contents.modules) == (len(archive.entries), tuple(sorted(MODULES)))


def test_module_names_are_normalised_wherever_the_modules_are(debian_kernel: KernelTree) -> None:
    # compressed module files, in /lib/modules (no usrmerge)
    data = modules_cpio(debian_kernel, ("hv_vmbus", "dm_mod", "crc32c_intel"), prefix="lib",
                        compressed={"dm_mod": "xz", "crc32c_intel": "zstd", "hv_vmbus": "gzip"})
    entries = cpio_list(data)
    assert {"lib/modules", f"lib/modules/{debian_kernel.version}/kernel/drivers/md/dm-mod.ko.xz"} <= set(entries)
    assert any(e.endswith("/crc32c-intel.ko.zst") for e in entries) and any(e.endswith("/hv_vmbus.ko.gz") for e in entries)
    contents = read_initramfs(compress(data, "gzip"))
    assert contents.modules == ("crc32c_intel", "dm_mod", "hv_vmbus")
    assert contents.kernel_versions == (debian_kernel.version,)


def test_only_module_files_under_lib_modules_count(tmp_path: Path) -> None:
    root = tmp_path / "root"
    paths = ["usr/lib/modules/6.9.0-1-amd64/kernel/a-b.ko", "usr/lib/modules/6.9.0-1-amd64/modules.order",
             "usr/lib/firmware/not-a-module.ko", "usr/lib/modules/6.9.0-1-amd64/kernel/dir.ko/c_d.ko.zst",
             "lib/modules/5.10.0-9-amd64/kernel/e.ko.bz2"]
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        if not path.endswith("dir.ko"):
            (root / path).write_bytes(b"\x7fELF")
    contents = read_initramfs(compress(cpio_newc(root, with_parents(paths)), "zstd"))
    # a directory named *.ko is no module; .ko.bz2 is not a suffix kmod reads
    assert contents.modules == ("a_b", "c_d")
    assert contents.kernel_versions == ("5.10.0-9-amd64", "6.9.0-1-amd64")


# --- concatenation and padding, as the kernel reads them --------------------------------------


def test_early_microcode_then_the_compressed_archive(archive: Archive, packed: Callable[[str], bytes], early: Archive) -> None:
    contents = read_initramfs(early.data + packed("zstd"))
    assert contents.segments == ("none", "zstd")
    assert contents.files == len(early.entries) + len(archive.entries)
    assert "kernel/x86/microcode/GenuineIntel.bin" in early.entries
    assert contents.modules == tuple(sorted(MODULES))


def test_a_run_of_archives(archive: Archive, early: Archive, packed: Callable[[str], bytes]) -> None:
    # two early archives back to back (AMD's and Intel's), then gzip, xz, and two archives in one lz4 stream
    data = (early.data + early.data + packed("gzip") + compress(early.data, "xz")
            + compress(early.data + archive.data, "lz4"))
    contents = read_initramfs(data)
    assert contents.segments == ("none", "gzip", "xz", "lz4")
    assert contents.files == 4 * len(early.entries) + 2 * len(archive.entries)


@pytest.mark.parametrize("zeros", [1, 3, 4, 4096])
def test_zero_padding_between_compressed_archives(archive: Archive, packed: Callable[[str], bytes], early: Archive,
                                                  zeros: int) -> None:
    data = bytes(8) + compress(early.data, "gzip") + bytes(zeros) + packed("zstd") + bytes(zeros)
    contents = read_initramfs(data)
    assert contents.segments == ("gzip", "zstd")
    assert contents.files == len(early.entries) + len(archive.entries)


def test_zero_padding_after_an_uncompressed_archive(packed: Callable[[str], bytes], early: Archive) -> None:
    contents = read_initramfs(early.data + bytes(512) + packed("xz"))
    assert contents.segments == ("none", "xz")


def test_padding_the_kernel_refuses(packed: Callable[[str], bytes], early: Archive) -> None:
    # after an archive's trailer only zeros up to a 4-byte boundary: the kernel's "broken padding"
    assert "broken padding" in one_line_error(early.data + bytes(2) + packed("zstd"))
    # an uncompressed archive starts 4-byte aligned
    gzipped = packed("gzip")
    shift = next(z for z in (1, 2, 3) if (len(gzipped) + z) % 4)  # zeros that leave the next archive unaligned
    assert "not 4-byte aligned" in one_line_error(gzipped + bytes(shift) + early.data)


def test_empty_and_all_zeros_hold_no_archive() -> None:
    for data in (b"", bytes(4096)):
        contents = read_initramfs(data)
        assert (contents.segments, contents.files, contents.modules, contents.kernel_versions) == ((), 0, (), ())


# --- truncation, corruption, what the kernel does not read ---------------------------------------


@pytest.mark.parametrize("kind", [*KINDS, "none"])
@pytest.mark.parametrize("cut", ["half", "tail"])
def test_truncated(archive: Archive, kind: str, cut: str, packed: Callable[[str], bytes]) -> None:
    data = archive.data if kind == "none" else packed(kind)
    if kind == "none":
        data = data[: len(data) // 2] if cut == "half" else data[: data.rindex(b"TRAILER!!!") - 110]
    else:
        data = data[: len(data) // 2] if cut == "half" else data[:-3]
    assert "truncated" in one_line_error(data)


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])  # the formats with a checksum
def test_corrupt_compressed_data(packed: Callable[[str], bytes], kind: str) -> None:
    data = bytearray(packed(kind))
    for at in range(len(data) // 2, len(data) // 2 + 16):
        data[at] ^= 0x55
    message = one_line_error(bytes(data))
    assert message.startswith(f"the {kind} archive at offset 0: ")


def test_corrupt_lz4_chunk(packed: Callable[[str], bytes]) -> None:
    data = bytearray(packed("lz4"))
    data[4:8] = (0x7FFFFFFF).to_bytes(4, "little")  # the first chunk's size
    assert "corrupt lz4 stream" in one_line_error(bytes(data))


def test_corrupt_cpio_headers(archive: Archive) -> None:
    second = archive.data.index(b"070701", 1)
    bad_magic = archive.data[:second] + b"070799" + archive.data[second + 6 :]
    assert f"no cpio header (magic 30 37 30 37 39 39) at unpacked offset {second}" in one_line_error(compress(bad_magic, "gzip"))
    not_hex = archive.data[:second + 20] + b"zz" + archive.data[second + 22 :]
    assert f"not hexadecimal) at offset {second}" in one_line_error(not_hex)


def test_junk_within_a_compressed_archive(archive: Archive) -> None:
    assert "junk within the compressed archive (byte 0x6e) at unpacked offset 0" in one_line_error(
        compress(b"not a cpio archive\n" * 64, "zstd"))
    assert "junk within the compressed archive" in one_line_error(compress(archive.data + b"junk", "xz"))


def test_what_the_kernel_does_not_unpack(archive: Archive, debian_kernel: KernelTree) -> None:
    odc = subprocess.run(["cpio", "--quiet", "-o", "-H", "odc"], cwd=debian_kernel.root, input=b"boot\n",
                         capture_output=True, check=True).stdout
    assert "odc cpio archive (070707)" in one_line_error(odc)
    frame = subprocess.run(["lz4", "-c"], input=archive.data, capture_output=True, check=True).stdout
    assert "lz4 frame format (magic 04 22 4d 18)" in one_line_error(frame)
    assert "lzo compression (magic 89 4c 5a 4f) is not read here" in one_line_error(b"\x89LZO\x00\r\n\x1a\n" + bytes(64))
    # the kernel itself is no initramfs (a bzImage starts "MZ")
    assert "offset 0: unknown magic 4d 5a" in one_line_error(debian_kernel.vmlinuz.read_bytes())


# --- the caps, and memory --------------------------------------------------------------------


def test_a_decompression_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    bomb = compress(zeros_cpio(tmp_path, 64 << 20), "zstd")
    assert len(bomb) < 64 << 10  # 64 MiB of zeros in a few KiB
    assert "unpacks to more than 16777216 bytes" in one_line_error(bomb, max_unpacked_bytes=16 << 20)
    assert read_initramfs(bomb).unpacked_bytes > 64 << 20


def test_the_entry_cap(packed: Callable[[str], bytes]) -> None:
    assert "more than 10 entries" in one_line_error(packed("gzip"), max_entries=10)


@pytest.mark.parametrize("kind", ["zstd", "gzip", "lz4"])
def test_the_unpacked_archive_is_never_held_in_memory(tmp_path: Path, kind: str) -> None:
    data = compress(zeros_cpio(tmp_path, 96 << 20), kind)
    tracemalloc.start()
    try:
        contents = read_initramfs(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert contents.unpacked_bytes > 96 << 20
    assert peak < 24 << 20  # a few chunks (lz4: its 8 MiB blocks), never the 96 MiB


# --- mkinitramfs, with lsinitramfs as the oracle -------------------------------------------------


def test_mkinitramfs_modules_are_lsinitramfs_modules(mkinitramfs_initrd: Path, debian_kernel: KernelTree) -> None:
    listing = lsinitramfs(mkinitramfs_initrd)
    contents = read_initramfs(mkinitramfs_initrd.read_bytes())
    assert contents.segments == ("zstd",)
    assert contents.modules == tuple(modules_listed(listing))
    assert set(HYPERV_MODULES) <= set(contents.modules)
    assert contents.files == len(listing)
    assert contents.kernel_versions == (debian_kernel.version,)


def test_mkinitramfs_after_early_microcode_is_lsinitramfs_too(mkinitramfs_initrd: Path, early: Archive,
                                                              tmp_path: Path) -> None:
    combined = tmp_path / "initrd.img"
    combined.write_bytes(early.data + mkinitramfs_initrd.read_bytes())
    listing = lsinitramfs(combined)
    contents = read_initramfs(combined.read_bytes())
    assert contents.segments == ("none", "zstd")
    assert contents.files == len(listing)
    assert contents.modules == tuple(modules_listed(listing))
