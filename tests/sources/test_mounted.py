"""A root with filesystems mounted on it, read as one FileSource."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.sources import DirectorySource, FileKind
from shipyard.sources.mounted import MountedSource


@pytest.fixture
def view(tmp_path: Path) -> MountedSource:
    root, boot, esp = tmp_path / "root", tmp_path / "boot", tmp_path / "esp"
    (root / "boot").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("root fs\n")
    (root / "boot/left-behind").write_text("hidden by the mount, as on a running system\n")
    (boot / "grub").mkdir(parents=True)
    (boot / "efi").mkdir()
    (boot / "vmlinuz-6.1.0").write_bytes(b"kernel")
    os.symlink("vmlinuz-6.1.0", boot / "vmlinuz")
    os.symlink("/etc/hostname", boot / "grub/host")  # absolute: the whole view's root
    (esp / "EFI/BOOT").mkdir(parents=True)
    (esp / "EFI/BOOT/BOOTX64.EFI").write_bytes(b"MZ")
    return MountedSource(DirectorySource(root), {"/boot": DirectorySource(boot), "/boot/efi": DirectorySource(esp)})


def test_paths_come_from_the_deepest_mount(view: MountedSource) -> None:
    assert view.listdir("/boot") == ["efi", "grub", "vmlinuz", "vmlinuz-6.1.0"]
    assert view.read_bytes("/boot/efi/EFI/BOOT/BOOTX64.EFI") == b"MZ"
    assert view.read_text("/etc/hostname") == "root fs\n"
    assert not view.exists("/boot/left-behind")
    assert view.mount_points == ("/boot/efi", "/boot")


def test_symlinks_resolve_across_mounts(view: MountedSource) -> None:
    assert view.readlink("/boot/vmlinuz") == "vmlinuz-6.1.0"
    assert view.read_bytes("/boot/vmlinuz") == b"kernel"
    assert view.read_text("/boot/grub/host") == "root fs\n"
    assert view.lstat("/boot/grub/host").kind is FileKind.SYMLINK
    assert view.stat("/boot/efi").kind is FileKind.DIRECTORY


def test_missing_paths_raise_as_any_source(view: MountedSource) -> None:
    with pytest.raises(FileNotFoundError):
        view.read_bytes("/boot/efi/EFI/none")
    with pytest.raises(NotADirectoryError):
        view.listdir("/boot/vmlinuz-6.1.0")
