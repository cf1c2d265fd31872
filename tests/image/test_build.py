"""``build_image``: a directory tree to an Azure-ready fixed VHD, checked with e2fsprogs and qemu-img."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from fixtures.images import OS_RELEASE, pseudo_random_bytes, read_with_debugfs, write_rootfs
from shipyard.errors import ShipyardError, UsageError
from shipyard.image.build import build_image, estimate_disk_bytes
from shipyard.image.partitions import read_partition_table
from shipyard.image.azure import azure_problems
from shipyard.image.vhd import MIB
from shipyard.image.disk import open_disk

E2FSCK = "/usr/sbin/e2fsck"
QEMU_IMG = shutil.which("qemu-img")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rootfs(tmp_path_factory.mktemp("build") / "root", {"etc/nested/deep/file.conf": "k = v\n"})


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_built_image_is_azure_ready_and_e2fsprogs_reads_every_file(rootfs: Path, tmp_path: Path, table: str) -> None:
    calls: list[tuple[int, int]] = []
    path = build_image(rootfs, tmp_path / "disk.vhd", table=table, label="cloudimg-rootfs",
                       progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] == path.stat().st_size
    size = path.stat().st_size
    assert (size - 512) % MIB == 0 and size - 512 >= 20 * MIB
    assert path.stat().st_blocks * 512 < size // 4  # sparse
    assert not path.with_name("disk.vhd.partial").exists()
    with open_disk(path) as disk:
        assert disk.format == "vhd-fixed" and azure_problems(disk) == []
        (part,) = read_partition_table(disk).partitions
    assert part.start_bytes == MIB
    for name in ("etc/os-release", "usr/bin/tool", "var/lib/dpkg/status", "etc/nested/deep/file.conf"):
        assert read_with_debugfs(path, "/" + name, MIB) == (rootfs / name).read_bytes(), name
    fsck = subprocess.run([E2FSCK, "-fn", f"{path}?offset={MIB}"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    stats = subprocess.run(["/usr/sbin/debugfs", "-R", "stats", f"{path}?offset={MIB}"], capture_output=True,
                           text=True).stdout
    assert "Filesystem volume name:   cloudimg-rootfs" in stats
    link = subprocess.run(["/usr/sbin/debugfs", "-R", "stat /bin", f"{path}?offset={MIB}"], capture_output=True,
                          text=True).stdout
    assert "Type: symlink" in link and 'Fast link dest: "usr/bin"' in link


@pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is not installed")
def test_qemu_img_sees_the_exact_size(rootfs: Path, tmp_path: Path) -> None:
    path = build_image(rootfs, tmp_path / "disk.vhd", table="gpt")
    info = subprocess.run([QEMU_IMG, "info", "-f", "vpc", "--output=json", str(path)], capture_output=True,
                          text=True, check=True).stdout
    assert f'"virtual-size": {path.stat().st_size - 512},' in info


def test_explicit_size_is_rounded_up_to_a_whole_mib(rootfs: Path, tmp_path: Path) -> None:
    path = build_image(rootfs, tmp_path / "disk.vhd", 30 * MIB + 1)
    assert path.stat().st_size == 31 * MIB + 512


def test_default_size_fits_a_bigger_tree(tmp_path: Path) -> None:
    root = write_rootfs(tmp_path / "root", {f"data/blob{i}": pseudo_random_bytes(MIB, seed=i) for i in range(24)})
    estimate = estimate_disk_bytes(root)
    assert estimate > 24 * MIB and estimate % MIB == 0
    path = build_image(root, tmp_path / "disk.vhd")
    assert read_with_debugfs(path, "/data/blob23", MIB) == (root / "data/blob23").read_bytes()


def test_existing_destination_is_refused_unless_overwrite(rootfs: Path, tmp_path: Path) -> None:
    dst = tmp_path / "disk.vhd"
    dst.write_bytes(b"precious")
    with pytest.raises(UsageError, match="already exists") as caught:
        build_image(rootfs, dst)
    assert caught.value.hint == "pass --overwrite to replace it, or choose another destination"
    assert dst.read_bytes() == b"precious"
    build_image(rootfs, dst, overwrite=True)
    assert dst.stat().st_size > 20 * MIB


def test_bad_arguments(rootfs: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a directory"):
        build_image(tmp_path / "missing", tmp_path / "a.vhd")
    with pytest.raises(UsageError, match="unknown partition table"):
        build_image(rootfs, tmp_path / "a.vhd", table="apm")
    with pytest.raises(UsageError, match="too small"):
        build_image(rootfs, tmp_path / "a.vhd", MIB)


@pytest.mark.parametrize("size_bytes", [0, 4 * MIB, 19 * MIB])
def test_a_disk_below_azures_20_mib_minimum_is_refused(rootfs: Path, tmp_path: Path, size_bytes: int) -> None:
    with pytest.raises(UsageError) as caught:
        build_image(rootfs, tmp_path / "a.vhd", size_bytes)
    assert str(caught.value) == (f"--size {-(-size_bytes // MIB)} MiB is too small: Azure's smallest managed disk "
                                 "is 20 MiB")
    assert not (tmp_path / "a.vhd").exists() and not (tmp_path / "a.vhd.partial").exists()


def test_azures_minimum_is_accepted_and_passes_the_size_rule(rootfs: Path, tmp_path: Path) -> None:
    path = build_image(rootfs, tmp_path / "a.vhd", 20 * MIB - 100)  # rounded up to 20 MiB
    assert path.stat().st_size == 20 * MIB + 512
    with open_disk(path) as disk:
        assert azure_problems(disk) == []


def test_a_device_or_fifo_destination_is_never_replaced(rootfs: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="exists and is not a regular file"):
        build_image(rootfs, fifo, overwrite=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_tree_too_big_for_the_size_fails_cleanly(tmp_path: Path) -> None:
    root = write_rootfs(tmp_path / "root", {"big": pseudo_random_bytes(22 * MIB)})
    with pytest.raises(ShipyardError, match=r"^mkfs\.ext4 failed: ") as caught:
        build_image(root, tmp_path / "a.vhd", 20 * MIB)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "a.vhd").exists() and not (tmp_path / "a.vhd.partial").exists()


def test_os_release_survives_the_round_trip(rootfs: Path, tmp_path: Path) -> None:
    path = build_image(rootfs, tmp_path / "disk.vhd")
    assert read_with_debugfs(path, "/etc/os-release", MIB).decode() == OS_RELEASE
