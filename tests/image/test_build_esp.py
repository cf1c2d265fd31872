"""``build_image`` with an EFI system partition and a BIOS boot partition (GPT), and a given root UUID.

The images are opened with ``open_image`` and read back: the table against ``sfdisk --json``, the
identities against ``blkid``, the ESP's files through ``FatSource`` against the tree (and
``mdir``), both filesystems against their own checkers (``e2fsck -fn``, ``fsck.fat -n``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from image.fs.fat_builders import MANY_FILES, blkid, mdir_paths, tool, write_esp_tree

from fixtures.images import write_rootfs
from shipyard.errors import ShipyardError, UsageError
from shipyard.image import build_esp
from shipyard.image.azure import azure_problems
from shipyard.image.build import build_image
from shipyard.image.fs import open_filesystem
from shipyard.image.fs.fat import FatSource
from shipyard.image.root import open_image
from shipyard.sources.base import FileKind

MIB = 1024 * 1024
ROOT_UUID = "0b9e3bd8-6f8c-4a5e-9c3c-6c8b0f7a1e11"
FSTAB = f"UUID={ROOT_UUID} / ext4 defaults 0 1\nUUID=ABCD-1234 /boot/efi vfat umask=0077 0 1\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_rootfs(tmp_path_factory.mktemp("build-esp") / "root", {"etc/fstab": FSTAB})
    write_esp_tree(root / "boot" / "efi")
    return root


@pytest.fixture(scope="module")
def gen1_and_gen2(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image(tree, tmp_path_factory.mktemp("out") / "disk.vhd", table="gpt", label="cloudimg-rootfs",
                       fs_uuid=ROOT_UUID, esp_bytes=40 * MIB, esp_label="UEFI", esp_uuid="ABCD-1234",
                       bios_boot=True)


def sfdisk_table(path: Path) -> dict:
    result = subprocess.run([tool("sfdisk"), "--json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["partitiontable"]


def tree_paths(top: Path) -> set[str]:
    paths = set()
    for directory, dirs, files in os.walk(top):
        inside = os.path.relpath(directory, top)
        prefix = "/" if inside == "." else f"/{inside}/"
        paths |= {prefix + name + "/" for name in dirs} | {prefix + name for name in files}
    return paths


def test_gpt_with_bios_boot_and_esp_is_laid_out_as_cloud_images_are(gen1_and_gen2: Path) -> None:
    path = gen1_and_gen2
    assert path.stat().st_blocks * 512 < path.stat().st_size // 8  # sparse
    with open_image(path) as image:
        assert azure_problems(image.disk) == [] and image.root_location == "partition 1"
        table = image.table
        volumes = {v.partition: v for v in image.volumes}
        ours = [(p.index, p.start_bytes // 512, p.size_bytes // 512, p.type_id, p.partuuid, p.partlabel)
                for p in table.partitions]
        assert [p.type_name for p in table.partitions] == ["linux", "bios-boot", "efi"]
        assert (table.scheme, table.mbr_boot_code) == ("gpt", False)
    theirs = sfdisk_table(path)
    assert ours == [(int(p["node"].rsplit("vhd", 1)[1]), p["start"], p["size"], p["type"].lower(), p["uuid"].lower(),
                     p.get("name")) for p in theirs["partitions"]]
    assert [(n, start * 512, size * 512) for n, start, size, *_ in ours] == [
        (1, 42 * MIB, path.stat().st_size - 512 - 42 * MIB - 33 * 512), (14, MIB, MIB), (15, 2 * MIB, 40 * MIB)]
    assert [name for *_, name in ours] == ["cloudimg-rootfs", "BIOS boot partition", "EFI System Partition"]
    root, bios, esp = volumes[1], volumes[14], volumes[15]
    assert (root.filesystem, root.uuid, root.label, root.part_type) == ("ext4", ROOT_UUID, "cloudimg-rootfs", "linux")
    assert (bios.filesystem, bios.uuid, bios.part_type) == (None, None, "bios-boot")
    assert (esp.filesystem, esp.uuid, esp.label, esp.part_type) == ("vfat", "ABCD-1234", "UEFI", "efi")


def test_the_esp_holds_boot_efi_and_the_root_keeps_an_empty_mount_point(gen1_and_gen2: Path, tree: Path,
                                                                        tmp_path: Path) -> None:
    with open_image(gen1_and_gen2) as image:
        esp_volume = next(v for v in image.volumes if v.part_type == "efi")
        esp = open_filesystem(esp_volume.device)
        assert isinstance(esp, FatSource) and esp.version == "FAT32"
        assert image.root.stat("/boot/efi").kind == FileKind.DIRECTORY and image.root.listdir("/boot/efi") == []
        assert image.root.read_text("/etc/fstab") == FSTAB
        source = tree / "boot" / "efi"
        for name in tree_paths(source):
            if not name.endswith("/"):
                assert esp.read_bytes(name) == (source / name.lstrip("/")).read_bytes(), name
        assert len(esp.listdir("/many")) == MANY_FILES
        start, size = esp_volume.device.start, esp_volume.device.size_bytes
    assert mdir_paths(gen1_and_gen2, start) == tree_paths(tree / "boot" / "efi")
    partition = tmp_path / "esp.img"
    with open(gen1_and_gen2, "rb") as src, open(partition, "wb") as dst:
        src.seek(start)
        dst.write(src.read(size))
    tags = blkid(partition)
    assert (tags["UUID"], tags["LABEL"], tags["VERSION"]) == ("ABCD-1234", "UEFI", "FAT32")
    checked = subprocess.run([tool("fsck.fat"), "-n", str(partition)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    fsck = subprocess.run([tool("e2fsck"), "-fn", f"{gen1_and_gen2}?offset={42 * MIB}"], capture_output=True,
                          text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_an_esp_alone_starts_at_1_mib_and_a_small_one_is_fat16(tree: Path, tmp_path: Path) -> None:
    path = build_image(tree, tmp_path / "gen2.vhd", table="gpt", esp_bytes=20 * MIB)
    with open_image(path) as image:
        assert [(p.index, p.start_bytes, p.type_name) for p in image.table.partitions] == [
            (1, 21 * MIB, "linux"), (15, MIB, "efi")]
        esp = next(v for v in image.volumes if v.part_type == "efi")
        fat = open_filesystem(esp.device)
        assert isinstance(fat, FatSource) and fat.version == "FAT16" and esp.label is None
        assert fat.read_text("/EFI/debian/grub.cfg").startswith("search --fs-uuid")
        assert image.root.listdir("/boot/efi") == []


def test_mbr_with_a_given_root_uuid(tree: Path, tmp_path: Path) -> None:
    path = build_image(tree, tmp_path / "mbr.vhd", fs_uuid=ROOT_UUID.upper())
    with open_image(path) as image:
        (volume,) = image.volumes
        table = image.table
        assert (volume.partition, volume.uuid, volume.part_type, volume.partlabel) == (1, ROOT_UUID, "linux", None)
        assert volume.partuuid == f"{table.disk_signature:08x}-01" and table.mbr_boot_code is False
        assert image.root.listdir("/boot/efi/EFI") == ["BOOT", "debian"]  # no --esp: /boot/efi stays in the ext4
    assert sfdisk_table(path)["id"] == f"0x{table.disk_signature:08x}"


@pytest.mark.parametrize("options,message", [
    ({"esp_bytes": 40 * MIB}, "--esp needs --table gpt"),
    ({"bios_boot": True}, "--bios-boot needs --table gpt"),
    ({"table": "gpt", "esp_label": "UEFI"}, "--esp-label and --esp-uuid need --esp SIZE"),
    ({"table": "gpt", "esp_bytes": 40 * MIB, "esp_label": "A-LABEL-TOO-LONG"}, "--esp-label 'A-LABEL-TOO-LONG' is "
                                                                               "not a FAT label"),
    ({"table": "gpt", "esp_bytes": 40 * MIB, "esp_uuid": "ABCD-12345"}, "--esp-uuid 'ABCD-12345' is not a FAT "
                                                                        "volume ID"),
    ({"fs_uuid": "not-a-uuid"}, "--uuid 'not-a-uuid' is not a UUID"),
    ({"table": "gpt", "esp_bytes": 19 * MIB, "size_bytes": 20 * MIB}, "--size 20 MiB leaves no room for the root "
                                                                      "filesystem after the 20 MiB before it"),
])
def test_bad_options_are_one_usage_error_line(tree: Path, tmp_path: Path, options: dict, message: str) -> None:
    size_bytes = options.pop("size_bytes", None)
    with pytest.raises(UsageError) as caught:
        build_image(tree, tmp_path / "bad.vhd", size_bytes, **options)
    assert str(caught.value) == message and caught.value.exit_status == 2
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("make,message", [
    (lambda efi: (efi / "link").symlink_to("EFI"), "boot/efi/link: the EFI system partition (FAT) holds only "
                                                   "directories and regular files"),
    (lambda efi: (efi / "EFI" / "boot").mkdir(), "boot/efi/EFI/boot: FAT names ignore case, and 'BOOT' is in the "
                                                 "same directory"),
    (lambda efi: (efi / "what?.txt").write_text("x"), "boot/efi/what?.txt: the name is not valid on FAT"),
])
def test_a_tree_fat_cannot_hold_is_refused_before_anything_is_written(tmp_path: Path, make, message: str) -> None:
    root = write_rootfs(tmp_path / "root")
    efi = root / "boot" / "efi"
    (efi / "EFI" / "BOOT").mkdir(parents=True)
    make(efi)
    with pytest.raises(UsageError) as caught:
        build_image(root, tmp_path / "out.vhd", table="gpt", esp_bytes=40 * MIB)
    assert str(caught.value) == message
    assert not (tmp_path / "out.vhd").exists() and not (tmp_path / "out.vhd.partial").exists()


def test_an_esp_too_small_for_its_tree_fails_and_leaves_nothing(tmp_path: Path) -> None:
    root = write_rootfs(tmp_path / "root", {"boot/efi/EFI/BOOT/BOOTX64.EFI": os.urandom(3 * MIB)})
    with pytest.raises(ShipyardError) as caught:
        build_image(root, tmp_path / "out.vhd", table="gpt", esp_bytes=2 * MIB)
    assert str(caught.value).startswith("mcopy failed: ") and "\n" not in str(caught.value)
    assert caught.value.hint == "check that boot/efi fits the --esp size given"
    assert not (tmp_path / "out.vhd").exists() and not (tmp_path / "out.vhd.partial").exists()


@pytest.mark.parametrize("missing,package", [("mkfs.fat", "dosfstools"), ("mcopy", "mtools")])
def test_a_missing_fat_tool_names_its_debian_package(tree: Path, tmp_path: Path, monkeypatch, missing: str,
                                                     package: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("mkfs.ext4", "debugfs", "mkfs.fat", "mcopy"):
        if name != missing:
            os.symlink(shutil.which(name) or tool(name), bin_dir / name)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(build_esp, "_TOOL_DIRS", ())
    with pytest.raises(ShipyardError) as caught:
        build_image(tree, tmp_path / "out.vhd", table="gpt", esp_bytes=40 * MIB)
    assert str(caught.value) == f"{missing} was not found"
    assert caught.value.hint == f"install {package} (apt-get install {package})"
    assert not (tmp_path / "out.vhd").exists()
