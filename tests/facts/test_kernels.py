"""The kernels collector on trees with the real Debian cloud kernel's files (vmlinuz,
modules.builtin) and its real initramfs from mkinitramfs, laid out as Debian, RHEL/Fedora and
SUSE lay them out, read through ``DirectorySource``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures.kernel import HYPERV_MODULES, KernelTree, lsinitramfs

from shipyard.facts.collectors.kernels import InitramfsScans, collect_kernels, kernel_format
from shipyard.sources.directory import DirectorySource


def builtin_listed(kernel: KernelTree) -> tuple[str, ...]:
    """modules.builtin's names, normalised: the oracle for ``builtin_modules``."""
    lines = (kernel.modules_dir / "modules.builtin").read_text().split()
    return tuple(sorted({line.rpartition("/")[2].removesuffix(".ko").replace("-", "_") for line in lines}))


def install(root: Path, kernel: KernelTree, *, kernel_at: str, initrd: Path | None = None, initrd_at: str = "",
            version: str | None = None, usrmerge: bool = True) -> str:
    """Put the real kernel (under ``version``, its own by default) into ``root``: vmlinuz at
    ``kernel_at``, the initramfs at ``initrd_at`` ("{v}" is the version), modules.builtin in its
    modules directory. Returns the version."""
    version = version or kernel.version
    if usrmerge and not (root / "lib").exists():
        (root / "usr" / "lib").mkdir(parents=True, exist_ok=True)
        (root / "lib").symlink_to("usr/lib")
    modules = root / ("usr/lib" if usrmerge else "lib") / "modules" / version
    modules.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel.modules_dir / "modules.builtin", modules / "modules.builtin")
    target = root / kernel_at.format(v=version).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel.vmlinuz, target)
    if initrd is not None:
        initrd_path = root / initrd_at.format(v=version).lstrip("/")
        initrd_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(initrd, initrd_path)
    return version


class CountingSource(DirectorySource):
    """A ``DirectorySource`` that records what it reads, and how much."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read: dict[str, int] = {}

    def read_bytes(self, path: str) -> bytes:
        data = super().read_bytes(path)
        self.read[path] = self.read.get(path, 0) + len(data)
        return data

    def read_prefix(self, path: str, length: int) -> bytes:
        data = super().read_prefix(path, length)
        self.read[path] = self.read.get(path, 0) + len(data)
        return data

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")


def test_debian_kernel_with_its_mkinitramfs_initramfs(tmp_path: Path, debian_kernel: KernelTree,
                                                       mkinitramfs_initrd: Path) -> None:
    root = tmp_path / "root"
    version = install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}", initrd=mkinitramfs_initrd,
                      initrd_at="/boot/initrd.img-{v}")
    source = CountingSource(root)
    (kernel,) = collect_kernels(source)
    assert (kernel.version, kernel.path, kernel.format) == (version, f"/boot/vmlinuz-{version}", "bzImage")
    initramfs = kernel.initramfs
    assert initramfs is not None and initramfs.error is None
    assert (initramfs.path, initramfs.size_bytes) == (f"/boot/initrd.img-{version}", mkinitramfs_initrd.stat().st_size)
    assert initramfs.segments == ("zstd",)
    assert initramfs.kernel_versions == (version,)
    assert initramfs.files == len(lsinitramfs(mkinitramfs_initrd))
    assert set(HYPERV_MODULES) <= set(initramfs.modules or ())
    assert kernel.builtin_modules == builtin_listed(debian_kernel)
    assert kernel.provides("hv-vmbus") == (True, "in the initramfs")
    builtin = kernel.builtin_modules[0]
    assert kernel.provides(builtin) == (True, "built in")
    # it reads the kernel (its header), the initramfs and modules.builtin: nothing else
    assert set(source.read) == {f"/boot/vmlinuz-{version}", f"/boot/initrd.img-{version}",
                                f"/usr/lib/modules/{version}/modules.builtin"}
    assert source.read[f"/boot/vmlinuz-{version}"] == 0x240  # its header, not its 14 MB


def test_a_kernel_without_an_initramfs(tmp_path: Path, debian_kernel: KernelTree) -> None:
    root = tmp_path / "root"
    install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}", usrmerge=False)
    (kernel,) = collect_kernels(DirectorySource(root))
    assert kernel.initramfs is None
    assert kernel.builtin_modules == builtin_listed(debian_kernel)  # from /lib/modules
    assert kernel.provides("hv_vmbus") == (False, "missing")


def test_a_corrupt_initramfs_is_unknown_not_empty(tmp_path: Path, debian_kernel: KernelTree,
                                                  mkinitramfs_initrd: Path) -> None:
    root = tmp_path / "root"
    version = install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}")
    whole = mkinitramfs_initrd.read_bytes()
    (root / "boot" / f"initrd.img-{version}").write_bytes(whole[: len(whole) // 2])
    (kernel,) = collect_kernels(DirectorySource(root))
    initramfs = kernel.initramfs
    assert initramfs is not None
    assert initramfs.modules is None and initramfs.files is None
    assert initramfs.error is not None and "truncated" in initramfs.error and "\n" not in initramfs.error
    assert initramfs.size_bytes == len(whole) // 2
    assert kernel.provides("hv_netvsc") == (None, "unknown")


def test_placeholders_are_not_kernels(tmp_path: Path, debian_kernel: KernelTree) -> None:
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    (root / "boot" / "vmlinuz-6.1.0-99-cloud-amd64").write_bytes(b"")
    (root / "boot" / "vmlinuz-6.1.0-98-cloud-amd64").write_bytes(bytes(4096))
    (root / "boot" / "vmlinuz-6.1.0-97-cloud-amd64").write_text("placeholder: the kernel is installed at first boot\n")
    assert collect_kernels(DirectorySource(root)) == ()
    version = install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}")
    assert [k.version for k in collect_kernels(DirectorySource(root))] == [version]


def test_fedora_rhel_layout_oldest_first(tmp_path: Path, debian_kernel: KernelTree, mkinitramfs_initrd: Path) -> None:
    # the kernel in /usr/lib/modules/<v>/vmlinuz, its initramfs as RHEL names it; a second, older
    # version (the same real files under another name) sorts first: 9 < 57, not as text
    root = tmp_path / "root"
    for version in (debian_kernel.version, "6.1.0-9-cloud-amd64"):
        install(root, debian_kernel, kernel_at="/usr/lib/modules/{v}/vmlinuz", version=version,
                initrd=mkinitramfs_initrd, initrd_at="/boot/initramfs-{v}.img")
    (root / "boot" / "vmlinuz-6.1.0-9-cloud-amd64").write_bytes(b"")  # an empty copy in /boot: not the kernel
    kernels = collect_kernels(DirectorySource(root))
    assert [k.version for k in kernels] == ["6.1.0-9-cloud-amd64", debian_kernel.version]
    assert [k.path for k in kernels] == [f"/usr/lib/modules/{k.version}/vmlinuz" for k in kernels]
    assert [k.initramfs.path if k.initramfs else None for k in kernels] == [
        f"/boot/initramfs-{k.version}.img" for k in kernels]
    assert all(k.initramfs and k.initramfs.has_module("hv_storvsc") for k in kernels)


@pytest.mark.parametrize("initrd_at", ["/boot/initrd-{v}", "/usr/lib/modules/{v}/initrd"])
def test_suse_and_kernel_install_initrd_names(tmp_path: Path, debian_kernel: KernelTree, mkinitramfs_initrd: Path,
                                              initrd_at: str) -> None:
    root = tmp_path / "root"
    version = install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}", initrd=mkinitramfs_initrd,
                      initrd_at=initrd_at)
    (kernel,) = collect_kernels(DirectorySource(root))
    assert kernel.initramfs is not None and kernel.initramfs.path == initrd_at.format(v=version)
    assert kernel.provides("hv_netvsc") == (True, "in the initramfs")


def test_kernel_formats(debian_kernel: KernelTree) -> None:
    assert kernel_format(debian_kernel.vmlinuz.read_bytes()[:0x240]) == "bzImage"
    assert kernel_format(b"") is None and kernel_format(bytes(0x240)) is None


def test_scans_unpack_in_the_background_to_the_same_facts(tmp_path: Path, debian_kernel: KernelTree,
                                                          mkinitramfs_initrd: Path) -> None:
    """InitramfsScans (collect_facts starts them first, so that decompression overlaps the other
    collectors) gives exactly what reading in collect_kernels gives, a corrupt file included."""
    root = tmp_path / "root"
    version = install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}", initrd=mkinitramfs_initrd,
                      initrd_at="/boot/initrd.img-{v}")
    install(root, debian_kernel, kernel_at="/boot/vmlinuz-{v}", version="6.1.0-1-cloud-amd64")
    (root / "boot/initrd.img-6.1.0-1-cloud-amd64").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 64)  # zstd magic, no frame
    source = DirectorySource(root)
    scans = InitramfsScans(source)
    assert scans.contents(f"/boot/initrd.img-{version}") is not None
    assert scans.contents("/boot/initrd.img-none") is None
    scanned, read = collect_kernels(source, scans), collect_kernels(source)
    assert scanned == read
    assert [k.initramfs is not None and k.initramfs.error is not None for k in scanned] == [True, False]
