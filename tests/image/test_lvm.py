"""Linear LVM2: our writer checked by LVM2's own tools, LVM2's writer checked by our reader."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.images import OS_RELEASE, LvSpec, make_ext4_file, read_with_debugfs, write_lvm_image, write_rootfs
from shipyard.errors import ImageFormatError
from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.lvm import (
    calc_lvm_crc, open_logical_volume, parse_lvm_metadata, read_pv_label, read_volume_group,
)
from shipyard.image.partitions import read_partition_table
from shipyard.image.vhd import MIB
from shipyard.image.disk import open_disk

PVCK = shutil.which("pvck")
LVM_ENV = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"}


@pytest.fixture(scope="module")
def lvm_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lvm_image(tmp_path_factory.mktemp("lvm"))


def open_group(path: Path):
    disk = open_disk(path)
    (part,) = read_partition_table(disk).partitions
    assert part.type_name == "lvm"
    return read_volume_group(part.open_device())


def test_two_segment_linear_lv_reads_back_the_filesystem(lvm_image: Path, tmp_path: Path) -> None:
    group = open_group(lvm_image)
    assert (group.name, group.extent_size_bytes, group.pv_count) == ("vg0", MIB, 1)
    assert [(v.name, v.problem) for v in group.logical_volumes] == [("root", None), ("spare", None)]
    root = open_logical_volume(group, "root")
    fs = lvm_image.with_name(lvm_image.name + ".ext4").read_bytes()
    assert root.size_bytes == len(fs) == 8 * MIB
    assert root.read(0, root.size_bytes) == fs
    assert root.read(4 * MIB - 10, 20) == fs[4 * MIB - 10 : 4 * MIB + 10]  # across the segment boundary
    copy = tmp_path / "lv.img"
    copy.write_bytes(root.read(0, root.size_bytes))
    assert read_with_debugfs(copy, "/etc/os-release", 0) == OS_RELEASE.encode()


def test_whole_disk_pv_without_partition_table(tmp_path: Path) -> None:
    path = write_lvm_image(tmp_path, partitioned=False)
    with FileDevice(path) as disk:
        table = read_partition_table(disk)
        assert (table.scheme, table.partitions[0].type_name) == ("none", "lvm")
        assert open_logical_volume(read_volume_group(disk), "root").read(1080, 2) == b"\x53\xef"


@pytest.mark.skipif(PVCK is None, reason="lvm2 (pvck) is not installed")
def test_lvm2_pvck_accepts_our_pv(tmp_path: Path) -> None:
    path = write_lvm_image(tmp_path, partitioned=False)
    result = subprocess.run([PVCK, "--dump", "metadata", str(path)], capture_output=True, text=True, env=LVM_ENV)
    assert result.returncode == 0, result.stderr
    assert "vgname vg0" in result.stdout and "segment2" in result.stdout
    headers = subprocess.run([PVCK, "--dump", "headers", str(path)], capture_output=True, text=True, env=LVM_ENV)
    assert headers.returncode == 0 and "CHECK" not in headers.stdout, headers.stdout


def lvm2_tools_usable() -> bool:
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("losetup", "pvcreate", "vgcreate", "vgcfgrestore"))


@pytest.mark.skipif(not lvm2_tools_usable(), reason="needs root, losetup and lvm2 tools")
def test_our_reader_on_a_pv_written_by_lvm2(tmp_path: Path) -> None:
    """pvcreate/vgcreate on a loop device, LVs added by vgcfgrestore (no device-mapper needed)."""
    image = tmp_path / "pv.img"
    with open(image, "wb") as out:
        out.truncate(16 * MIB)
    attach = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if attach.returncode:
        pytest.skip(f"no loop device: {attach.stderr.strip()}")
    loop = attach.stdout.strip()
    vg = f"shyt{os.getpid()}"
    env = {**LVM_ENV, "LVM_SYSTEM_DIR": str(tmp_path / "etc-lvm")}  # backups and archives stay in tmp_path
    try:
        run = lambda *args: subprocess.run(args, capture_output=True, text=True, env=env, check=True)  # noqa: E731
        run("pvcreate", "-ff", "-y", loop)
        run("vgcreate", "-s", "1M", vg, loop)
        backup = tmp_path / "vg.cfg"
        run("vgcfgbackup", "-f", str(backup), vg)
        text = backup.read_text()
        lv = ('logical_volumes {\nroot {\nid = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"\n'
              'status = ["READ", "WRITE", "VISIBLE"]\nflags = []\nsegment_count = 2\n'
              'segment1 {\nstart_extent = 0\nextent_count = 2\ntype = "striped"\nstripe_count = 1\n'
              'stripes = [\n"pv0", 0\n]\n}\nsegment2 {\nstart_extent = 2\nextent_count = 3\ntype = "striped"\n'
              'stripe_count = 1\nstripes = [\n"pv0", 6\n]\n}\n}\n}\n')
        end = text.rindex("}")
        backup.write_text(text[:end] + lv + text[end:])
        run("vgcfgrestore", "-f", str(backup), vg)
        segments = run("lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "seg_start_pe,seg_pe_ranges",
                       "--segments", f"{vg}/root").stdout.split()
        pe_start = int(run("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", loop).stdout)
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True)
    with open(image, "r+b") as out:  # mark each extent so the mapping can be checked
        for extent in range(10):
            os.pwrite(out.fileno(), bytes([extent + 1]) * MIB, pe_start + extent * MIB)
    assert segments == ["0", f"{loop}:0-1", "2", f"{loop}:6-8"]
    with FileDevice(image) as disk:
        root = open_logical_volume(read_volume_group(disk), "root")
        assert root.size_bytes == 5 * MIB
        assert [root.read(i * MIB + 7, 1)[0] for i in range(5)] == [1, 2, 7, 8, 9]


@pytest.mark.parametrize(
    ("spec", "refused_as"),
    [
        (LvSpec("pool", [(2, 10)], seg_type="thin-pool", extra={"metadata": '"meta"', "pool": '"data"'}),
         "thin provisioning"),
        (LvSpec("thin", [(2, 10)], seg_type="thin", extra={"thin_pool": '"pool"'}), "thin provisioning"),
        (LvSpec("stripes", [(2, 10)], stripe_count=2), "striped (2 stripes)"),
        (LvSpec("r1", [(2, 10)], seg_type="raid1", extra={"device_count": "2"}), "RAID"),
        (LvSpec("m", [(2, 10)], seg_type="mirror", extra={"mirror_count": "2"}), "mirroring"),
        (LvSpec("snap", [(2, 10)], seg_type="snapshot", extra={"origin": '"root"', "chunk_size": "8"}), "snapshot"),
    ],
)
def test_unsupported_lvs_are_refused_by_name(tmp_path: Path, spec: LvSpec, refused_as: str) -> None:
    group = open_group(write_lvm_image(tmp_path, extra_lvs=[spec]))
    assert open_logical_volume(group, "root").size_bytes == 8 * MIB  # the linear LVs still read
    with pytest.raises(ImageFormatError, match=re.escape(f"LV vg0/{spec.name} uses {refused_as}")):
        open_logical_volume(group, spec.name)


def test_multi_pv_volume_group_is_refused(tmp_path: Path) -> None:
    group = open_group(write_lvm_image(tmp_path, extra_pvs=1))
    assert group.pv_count == 2
    with pytest.raises(ImageFormatError, match="multi-PV volume group"):
        open_logical_volume(group, "root")


def test_unknown_lv_name_lists_the_known_ones(lvm_image: Path) -> None:
    with pytest.raises(ImageFormatError, match=r"no LV named 'home' .*root, spare"):
        open_logical_volume(open_group(lvm_image), "home")


@pytest.mark.parametrize(
    ("offset", "data", "message"),
    [
        (MIB + 512, b"LABELTWO", "no LVM2 label"),
        (MIB + 512 + 40, b"\x00", "LVM2 label CRC"),
        (MIB + 4096 + 100, b"\x01", "metadata area header CRC"),
        (MIB + 4096 + 512 + 20, b"Q", "metadata text CRC"),
    ],
)
def test_damaged_lvm_structures_are_reported(lvm_image: Path, tmp_path: Path, offset: int, data: bytes,
                                             message: str) -> None:
    path = tmp_path / "bad.raw"
    shutil.copyfile(lvm_image, path)
    with open(path, "r+b") as out:
        os.pwrite(out.fileno(), data, offset)
    with FileDevice(path) as disk, pytest.raises(ImageFormatError, match=message):
        read_volume_group(RangeDevice(disk, MIB, disk.size_bytes - MIB))


def test_lvm_crc_matches_a_label_written_by_lvm2_tools(lvm_image: Path) -> None:
    with FileDevice(lvm_image) as disk:
        label = read_pv_label(RangeDevice(disk, MIB, disk.size_bytes - MIB))
    assert label.sector == 1 and len(label.pv_uuid) == 32
    assert calc_lvm_crc(b"") == 0xF597A6CF


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a = 1\nb = "x"\n', {"a": 1, "b": "x"}),
        ('vg {\nl = ["A", "B"]\t# comment\nn = -5\n}\n', {"vg": {"l": ["A", "B"], "n": -5}}),
        ('s = "with \\"quote\\" and # hash"\n', {"s": 'with "quote" and # hash'}),
        ("stripes = [\n\"pv0\", 0,\n\"pv1\", 7\n]\n", {"stripes": ["pv0", 0, "pv1", 7]}),
        ("e = []\nx { }\n", {"e": [], "x": {}}),
    ],
)
def test_parse_lvm_metadata(text: str, expected: dict) -> None:
    assert parse_lvm_metadata(text) == expected


@pytest.mark.parametrize("text", ["a = ", "a {", "a = [1, 2", "}", "a b", "a = @", "a = {"])
def test_malformed_lvm_metadata_is_an_error(text: str) -> None:
    with pytest.raises(ImageFormatError, match="LVM2 metadata"):
        parse_lvm_metadata(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab1 =-{}[],"#\n\\', max_size=60))
def test_lvm_metadata_parser_raises_only_image_format_error(text: str) -> None:
    with contextlib.suppress(ImageFormatError):  # any other exception fails the test
        parse_lvm_metadata(text)


def test_extents_past_the_end_of_the_pv_are_refused(tmp_path: Path) -> None:
    fs = make_ext4_file(tmp_path / "fs", write_rootfs(tmp_path / "r"), 4 * MIB)
    path = write_lvm_image(tmp_path, extra_lvs=[LvSpec("far", [(4, 100)], content=None)])
    group = open_group(path)
    assert fs.exists()
    with pytest.raises(ImageFormatError, match="past the end of its"):
        open_logical_volume(group, "far")
