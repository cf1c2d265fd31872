"""`shipyard image build` with --esp, --bios-boot and --uuid, read back by `image inspect --raw`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.images import write_rootfs

ROOT_UUID = "0b9e3bd8-6f8c-4a5e-9c3c-6c8b0f7a1e11"


@pytest.fixture(scope="module")
def esp_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rootfs(tmp_path_factory.mktemp("tree") / "root", {
        "boot/efi/EFI/BOOT/BOOTX64.EFI": b"MZ" + bytes(5000), "boot/efi/EFI/ubuntu/grub.cfg": "configfile x\n",
        "etc/fstab": f"UUID={ROOT_UUID} / ext4 defaults 0 1\nLABEL=UEFI /boot/efi vfat umask=0077 0 1\n"})


def test_build_gen1_and_gen2_disk_and_inspect_its_volumes(cli, esp_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "disk.vhd"
    result = cli("image", "build", esp_tree, out, "--table", "gpt", "--esp", "40M", "--bios-boot",
                 "--esp-label", "UEFI", "--esp-uuid", "abcd-1234", "--uuid", ROOT_UUID, "--label", "cloudimg-rootfs")
    assert result.code == 0, result.err
    assert result.out.endswith("bytes, gpt: 1 ext4 root at 42 MiB, 14 bios-boot (1 MiB), 15 efi (40 MiB)\n")
    report = cli("image", "inspect", out, "--raw").json()["format"]
    assert report["partition_table"] == "gpt" and report["mbr_boot_code"] is False and report["ptuuid"]
    volumes = {v["partition"]: v for v in report["volumes"]}
    assert sorted(volumes) == [1, 14, 15]
    assert {k: volumes[1][k] for k in ("filesystem", "uuid", "label", "part_type", "partlabel")} == {
        "filesystem": "ext4", "uuid": ROOT_UUID, "label": "cloudimg-rootfs", "part_type": "linux",
        "partlabel": "cloudimg-rootfs"}
    assert {k: volumes[15][k] for k in ("filesystem", "uuid", "label", "part_type", "size_bytes")} == {
        "filesystem": "vfat", "uuid": "ABCD-1234", "label": "UEFI", "part_type": "efi", "size_bytes": 40 << 20}
    assert (volumes[14]["part_type"], volumes[14]["filesystem"]) == ("bios-boot", None)
    assert len({v["partuuid"] for v in volumes.values()}) == 3


@pytest.mark.parametrize("args,message", [
    (("--esp", "40M"), "--esp needs --table gpt"),
    (("--table", "gpt", "--esp", "lots"), "--esp 'lots': expected a size"),
    (("--uuid", "xyz"), "--uuid 'xyz' is not a UUID"),
    (("--table", "gpt", "--esp", "8M", "--esp-uuid", "ABCD"), "--esp-uuid 'ABCD' is not a FAT volume ID"),
])
def test_bad_build_options_exit_2_with_one_line(cli, esp_tree: Path, tmp_path: Path, args, message: str) -> None:
    result = cli("image", "build", esp_tree, tmp_path / "x.vhd", *args)
    assert result.code == 2 and result.err.count("\n") == 1 and message in result.err
    assert not (tmp_path / "x.vhd").exists()
