"""The kernels an image can boot, each with its initramfs and its built-in modules.

A kernel is ``/boot/vmlinuz-<version>`` (or ``vmlinux-``), or ``/usr/lib/modules/<version>/vmlinuz``
as Fedora, RHEL and Arch ship it, whose header is a kernel's: x86's bzImage (``HdrS`` at
0x202), ELF, PE (arm64's EFI stub, EFI zboot), arm64's or RISC-V's Image, or a compressed
Image (gzip, zstd, xz). An empty or zeroed placeholder is no kernel. Its initramfs is the
first of Debian's ``/boot/initrd.img-V``, RHEL's ``/boot/initramfs-V.img``, SUSE's
``/boot/initrd-V`` and ``/usr/lib/modules/V/initrd`` that exists, read as the kernel unpacks
it (``shipyard.image.initramfs``); one that cannot be read is an ``InitramfsFacts`` with
``error`` set and ``modules`` None: unknown, never "no modules". Built-in modules come from
``modules.builtin``.

Every file is read through the ``FileSource``: the kernel's header only (``read_head``), the
initramfs whole, ``modules.builtin``.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from shipyard.errors import ShipyardError
from shipyard.facts.boot import BootKernel, InitramfsFacts
from shipyard.facts.collectors.common import list_optional
from shipyard.facts.collectors.kernel import _module_name, _version_key
from shipyard.image.initramfs import InitramfsContents, read_initramfs
from shipyard.sources.base import MISSING, FileKind, FileSource, read_head, read_optional

__all__ = ["InitramfsScans", "collect_kernels", "initramfs_facts", "kernel_format"]

BOOT = "/boot"
MODULE_ROOTS = ("/usr/lib/modules", "/lib/modules")
KERNEL_PREFIXES = ("vmlinuz-", "vmlinux-")
NOT_KERNELS = (".hmac", ".sig", ".old", ".bak", ".dpkg-tmp", ".dpkg-new", ".rpmsave", ".rpmnew")
HEADER_BYTES = 0x240
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"))


def kernel_format(header: bytes) -> str | None:
    """What kind of kernel image a file's first bytes say it is; None: not a kernel."""
    if header[0x202:0x206] == b"HdrS":
        return "bzImage"  # x86, with or without its EFI stub ("MZ")
    if header[:4] == b"\x7fELF":
        return "elf"
    if header[:2] == b"MZ" and header[4:8] == b"zimg":
        return "efi-zboot"  # a compressed Image behind an EFI stub (Fedora's arm64)
    if header[0x38:0x3C] == b"ARM\x64":
        return "arm64-image"  # with or without an EFI stub
    if header[0x38:0x3C] == b"RSC\x05":
        return "riscv-image"
    if header[:2] == b"MZ":
        return "pe"
    return next((name for magic, name in _COMPRESSED if header.startswith(magic)), None)


def _probe(source: FileSource, path: str) -> str | None:
    """The kernel format of the file at ``path``; None when missing, empty or not a kernel."""
    try:
        stat = source.stat(path)
    except MISSING:
        return None
    if stat.kind != FileKind.FILE or stat.size_bytes == 0:
        return None
    return kernel_format(read_head(source, path, HEADER_BYTES))


def _candidates(source: FileSource) -> list[tuple[str, str]]:
    """(version, path) of every file that may be a kernel, the preferred path of a version first."""
    found: list[tuple[str, str]] = []
    names = [n for n in list_optional(source, BOOT) if not n.startswith(".") and not n.endswith(NOT_KERNELS)]
    for prefix in KERNEL_PREFIXES:
        found += [(n[len(prefix):], f"{BOOT}/{n}") for n in names if n.startswith(prefix) and len(n) > len(prefix)]
    for root in MODULE_ROOTS:
        found += [(v, f"{root}/{v}/vmlinuz") for v in list_optional(source, root) if not v.startswith(".")]
    return found


def initramfs_paths(version: str) -> tuple[str, ...]:
    return (
        f"{BOOT}/initrd.img-{version}",  # Debian, Ubuntu
        f"{BOOT}/initramfs-{version}.img",  # RHEL, Fedora, Arch (initramfs-linux.img)
        f"{BOOT}/initrd-{version}",  # SUSE
        *(f"{root}/{version}/initrd" for root in MODULE_ROOTS),
    )


class InitramfsScans:
    """Every initramfs of the root read now and unpacked in a background thread, so that its
    decompression (0.2 s for a 18 MB zstd one) runs while the other collectors read the root:
    python-zstandard, zlib and lzma release the GIL. The reads stay on the caller's thread (a
    ``FileSource`` is not shared across threads); only bytes go to the worker."""

    def __init__(self, source: FileSource) -> None:
        self._pending: dict[str, Future[InitramfsContents]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="initramfs")
        for version, _ in _candidates(source):
            for path in initramfs_paths(version):
                if path in self._pending:
                    continue
                try:
                    if source.stat(path).kind != FileKind.FILE:
                        continue
                    data = source.read_bytes(path)
                except OSError:
                    continue  # initramfs_facts reads it again and says why it cannot
                self._pending[path] = self._pool.submit(read_initramfs, data)
        self._pool.shutdown(wait=False)

    def contents(self, path: str) -> InitramfsContents | None:
        """The unpacked listing of ``path`` (raising what reading it raised), or None when it
        was not scanned."""
        future = self._pending.get(path)
        return None if future is None else future.result()


def initramfs_facts(source: FileSource, path: str, size_bytes: int, scans: InitramfsScans | None = None) -> InitramfsFacts:
    """The initramfs at ``path`` read as the kernel unpacks it; what stops that is its ``error``."""
    try:
        contents = scans.contents(path) if scans is not None else None
        if contents is None:
            contents = read_initramfs(source.read_bytes(path))
    except OSError as exc:
        return InitramfsFacts(path=path, size_bytes=size_bytes, error=f"cannot read it: {exc.strerror or exc}")
    except ShipyardError as exc:  # InitramfsError, or the image reader's own ImageFormatError
        return InitramfsFacts(path=path, size_bytes=size_bytes, error=exc.message)
    return InitramfsFacts(
        path=path,
        size_bytes=size_bytes,
        segments=contents.segments,
        files=contents.files,
        kernel_versions=contents.kernel_versions,
        modules=contents.modules,
    )


def _initramfs(source: FileSource, version: str, scans: InitramfsScans | None) -> InitramfsFacts | None:
    for path in initramfs_paths(version):
        try:
            stat = source.stat(path)
        except MISSING:
            continue
        if stat.kind == FileKind.FILE:
            return initramfs_facts(source, path, stat.size_bytes, scans)
    return None


def _builtin_modules(source: FileSource, version: str) -> tuple[str, ...] | None:
    for root in MODULE_ROOTS:
        text = read_optional(source, f"{root}/{version}/modules.builtin")
        if text is not None:
            names = (_module_name(line.strip().rpartition("/")[2]) for line in text.splitlines())
            return tuple(sorted({n for n in names if n}))
    return None


def collect_kernels(source: FileSource, scans: InitramfsScans | None = None) -> tuple[BootKernel, ...]:
    """Every kernel in the root, oldest to newest. None of them: ``()``, a known absence.
    ``scans``: the initramfs files already being unpacked (``InitramfsScans``)."""
    kernels: dict[str, BootKernel] = {}
    for version, path in _candidates(source):
        if version in kernels:
            continue  # found at a preferred path already (/boot, then /usr/lib/modules)
        kind = _probe(source, path)
        if kind is None:
            continue
        kernels[version] = BootKernel(
            version=version,
            path=path,
            format=kind,
            initramfs=_initramfs(source, version, scans),
            builtin_modules=_builtin_modules(source, version),
        )
    return tuple(kernels[v] for v in sorted(kernels, key=_version_key))
