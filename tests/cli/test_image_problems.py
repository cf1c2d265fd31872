"""`shipyard image inspect`, `check`, `convert` and `build` on files that cannot be read or that Azure
would refuse: one line and exit 2 with nothing written, the bytes a truncated file is missing, and
the advice for each problem, a command that works on that very file.

The Ubuntu tree and its image (``ubuntu_tree``, ``ubuntu_vhd``) come from ``tests/cli/conftest.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.image_cli import statuses
from fixtures.images import copy_sparse, write_dynamic_vhd
from shipyard.image.build import find_mkfs_ext4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00" * 100, "not a disk image"),
        (bytes(range(256)) * 8000, "not a disk image"),
        (b"vhdxfile" + b"\x00" * 70000, "this is VHDX"),
    ],
)
def test_bad_images_are_one_line_exit_2(cli, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    for command in ("inspect", "check"):
        result = cli("image", command, path)
        assert result.code == 2, result
        assert result.err.startswith("shipyard: error: ") and result.err.count("\n") == 1
        assert message in result.err and "Traceback" not in result.err


def test_a_directory_and_a_missing_file(cli, tmp_path: Path) -> None:
    assert cli("image", "inspect", tmp_path).code == 2
    assert cli("image", "inspect", tmp_path / "missing.vhd").code == 2


def test_no_root_filesystem(cli, tmp_path: Path) -> None:
    empty_tree = tmp_path / "tree"
    (empty_tree / "data").mkdir(parents=True)
    image = tmp_path / "noroot.vhd"
    assert cli("image", "build", empty_tree, image).code == 0
    result = cli("image", "inspect", image)
    assert result.code == 2 and "no root filesystem found" in result.err


def test_bad_checksum_truncation_and_bat_past_the_end(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    data = bytearray(ubuntu_vhd.read_bytes())
    bad_checksum = tmp_path / "checksum.vhd"
    data[-512 + 64] ^= 0xFF  # the footer's checksum field
    bad_checksum.write_bytes(bytes(data))
    checked = cli("image", "check", bad_checksum, "--raw")
    assert checked.code == 1 and statuses(checked)["vhd.footer"] == "fail"
    assert statuses(checked)["docker.installed"] == "pass"  # the rest of the image is still read

    truncated = tmp_path / "truncated.vhd"
    truncated.write_bytes(ubuntu_vhd.read_bytes()[: 3 << 20])
    for command in ("inspect", "check"):
        result = cli("image", command, truncated)
        assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err

    raw = tmp_path / "disk.raw"
    raw.write_bytes(ubuntu_vhd.read_bytes()[:-512])
    dynamic = bytearray(write_dynamic_vhd(raw, tmp_path / "dyn.vhd").read_bytes())
    bat = 512 + 1024  # the fixture's BAT offset: point the first allocated entry past the end
    entries = [int.from_bytes(dynamic[bat + 4 * i: bat + 4 * i + 4], "big") for i in range(8)]
    first = next(i for i, e in enumerate(entries) if e != 0xFFFFFFFF)
    dynamic[bat + 4 * first: bat + 4 * first + 4] = (0x7FFFFFF0).to_bytes(4, "big")
    broken = tmp_path / "bat.vhd"
    broken.write_bytes(bytes(dynamic))
    result = cli("image", "inspect", broken)
    assert result.code == 2 and "past the end" in result.err


# ---- issue 8: advice that leads somewhere, truncation, non-files, Azure's minimum size ----

QEMU_IMG = shutil.which("qemu-img")
MIB = 1 << 20


def one_error_line(result) -> str:
    assert result.code == 2, result
    assert result.err.startswith("shipyard: error: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    return result.err[len("shipyard: error: "):].rstrip("\n")


def backticked(text: str) -> list[str]:
    """The commands a hint quotes between backticks, as argument lists."""
    return [shlex.split(command) for command in re.findall(r"`([^`]+)`", text)]


def run_shipyard_command(cli, words: list[str]):
    assert words[:1] == ["shipyard"], words
    return cli(*words[1:])


def strip_footer(vhd: Path, raw: Path) -> Path:
    with open(vhd, "rb") as src, open(raw, "wb") as dst:
        dst.truncate(vhd.stat().st_size - 512)
        copy_sparse(src, dst, vhd.stat().st_size - 512)
    return raw


@pytest.fixture(scope="module")
def vhd_64m(ubuntu_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from shipyard.cli.main import main

    out = {}
    for table in ("mbr", "gpt"):
        out[table] = tmp_path_factory.mktemp("img64") / f"{table}.vhd"
        assert main(["image", "build", str(ubuntu_tree), str(out[table]), "--size", "64M", "--table", table,
                     "--raw"]) == 0
    return out


def nothing_written(dst: Path) -> bool:
    return not dst.exists() and not dst.with_name(dst.name + ".partial").exists()


def test_inspect_and_check_agree_on_a_bad_footer_checksum(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    bad = tmp_path / "checksum.vhd"
    data = bytearray(ubuntu_vhd.read_bytes())
    data[-512 + 64] ^= 0xFF
    bad.write_bytes(bytes(data))
    inspected = cli("image", "inspect", bad, "--raw")
    assert inspected.code == 0, inspected.err  # inspect reports; check judges
    report = inspected.json()
    assert report["format"]["footer_checksum_valid"] is False
    assert [p["id"] for p in report["format"]["azure_problems"]] == ["vhd.footer"]
    assert report["os"]["id"] == "ubuntu"  # the data was read all the same
    human = cli("image", "inspect", bad)
    assert human.code == 0 and "vhd.footer: footer checksum" in human.out
    checked = cli("image", "check", bad, "--raw")
    assert checked.code == 1 and statuses(checked)["vhd.footer"] == "fail"


def test_the_bad_footer_hint_is_a_convert_that_repairs_it(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    bad = tmp_path / "checksum.vhd"
    data = bytearray(ubuntu_vhd.read_bytes())
    data[-512 + 28 : -512 + 32] = b"evil"  # the creator field: the checksum no longer matches
    bad.write_bytes(bytes(data))
    footer_check = next(c for c in cli("image", "check", bad, "--raw").json()["checks"] if c["id"] == "vhd.footer")
    assert footer_check["status"] == "fail" and "shipyard image convert SRC DST.vhd" in footer_check["fix"]
    (problem,) = cli("image", "inspect", bad, "--raw").json()["format"]["azure_problems"]
    assert problem["id"] == "vhd.footer"
    (command,) = backticked(problem["fix"])  # the same advice, with this file's names
    assert command[:3] == ["shipyard", "image", "convert"] and command[3] == str(bad)
    converted = run_shipyard_command(cli, command)
    assert converted.code == 0, converted.err
    fixed = Path(command[4])
    assert fixed == tmp_path / "checksum-fixed.vhd"
    assert fixed.read_bytes()[:-512] == bytes(data[:-512])  # the data is copied as it was
    got = statuses(cli("image", "check", fixed, "--raw"))
    assert got["vhd.footer"] == got["vhd.format"] == got["vhd.alignment"] == got["vhd.size"] == "pass"
    assert cli("image", "inspect", fixed, "--raw").json()["format"]["footer_checksum_valid"] is True


@pytest.mark.parametrize(("table", "what"), [("mbr", "the MBR partition table"), ("gpt", "the GPT header")])
def test_a_fixed_vhd_that_lost_its_end_is_refused_with_the_bytes_missing(
        cli, vhd_64m: dict[str, Path], tmp_path: Path, table: str, what: str) -> None:
    cut = tmp_path / "disk.vhd"
    with open(vhd_64m[table], "rb") as src, open(cut, "wb") as dst:
        dst.truncate(60 * MIB)
        copy_sparse(src, dst, 60 * MIB)
    expected = f"disk.vhd is truncated: {what} says 64 MiB of data, the file holds 60 MiB (4,194,304 bytes missing)"
    dst = tmp_path / "out.vhd"
    assert one_error_line(cli("image", "convert", cut, dst)).startswith(expected + ";")
    assert nothing_written(dst)
    for command in ("inspect", "check"):
        assert one_error_line(cli("image", command, cut)).startswith(expected + ";")


def test_a_fixed_vhd_cut_in_the_middle_is_refused_with_the_bytes_missing(cli, vhd_64m: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    data = vhd_64m["mbr"].read_bytes()
    cut = tmp_path / "disk.vhd"
    cut.write_bytes(data[: 60 * MIB] + data[-512:])  # the footer kept, 4 MiB of data lost
    dst = tmp_path / "out.vhd"
    message = one_error_line(cli("image", "convert", cut, dst))
    assert message.startswith("disk.vhd is truncated: the footer says 64 MiB of data, the file holds 60 MiB "
                              "(4,194,304 bytes missing)")
    assert nothing_written(dst)


def test_a_truncated_dynamic_vhd_and_a_bat_past_the_end_are_refused(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    dynamic = write_dynamic_vhd(strip_footer(ubuntu_vhd, tmp_path / "disk.raw"), tmp_path / "dyn.vhd")
    full = dynamic.read_bytes()
    cut = tmp_path / "cut.vhd"
    cut.write_bytes(full[: len(full) - MIB])
    dst = tmp_path / "out.vhd"
    message = one_error_line(cli("image", "convert", cut, dst))
    assert message.startswith(f"cut.vhd is truncated: its BAT says {len(full):,} bytes of data, the file holds "
                              f"{len(full) - MIB:,} bytes ({MIB:,} bytes missing)")
    assert nothing_written(dst)

    broken = bytearray(full)
    bat = 512 + 1024
    entries = [int.from_bytes(broken[bat + 4 * i : bat + 4 * i + 4], "big") for i in range(8)]
    first = next(i for i, e in enumerate(entries) if e != 0xFFFFFFFF)
    broken[bat + 4 * first : bat + 4 * first + 4] = (len(full) // 512 + 100).to_bytes(4, "big")
    past = tmp_path / "bat.vhd"
    past.write_bytes(bytes(broken))
    message = one_error_line(cli("image", "convert", past, dst))
    assert f"BAT entry {first} points to sector {len(full) // 512 + 100}, past the end of the file" in message
    assert "bytes missing" in message
    assert nothing_written(dst)


@pytest.mark.parametrize("kind", ["fifo", "socket", "/dev/null", "/dev/zero"])
def test_non_files_are_refused_before_they_are_opened(tmp_path: Path, kind: str) -> None:
    expected = {"fifo": "is a FIFO (named pipe), not a disk image", "socket": "is a socket, not a disk image"}.get(
        kind, "is a character device, not a disk image")
    path = Path(kind) if kind.startswith("/dev/") else tmp_path / kind
    server = None
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)
    try:
        dst = tmp_path / "out.vhd"
        for args in (["inspect", path], ["check", path], ["convert", path, dst]):
            try:  # a child process, so that a regression fails on the timeout instead of hanging the suite
                done = subprocess.run([sys.executable, "-m", "shipyard", "image", *map(str, args)],
                                      capture_output=True, text=True, timeout=20, check=False)
            except subprocess.TimeoutExpired:
                pytest.fail(f"`shipyard image {args[0]}` on a {kind} hung")
            assert done.returncode == 2, done.stderr
            assert done.stderr == f"shipyard: error: {path} {expected}; give a regular file (or a block device) " \
                                  "that holds the image\n"
            assert nothing_written(dst)
    finally:
        if server:
            server.close()


def test_a_block_device_is_read(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    losetup = shutil.which("losetup")
    if losetup is None:
        pytest.skip("losetup is not installed: no loop device to test a block device with")
    raw = strip_footer(ubuntu_vhd, tmp_path / "disk.raw")
    attached = subprocess.run([losetup, "--show", "-f", "-r", str(raw)], capture_output=True, text=True, check=False)
    if attached.returncode:
        pytest.skip(f"cannot attach a loop device here: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        result = cli("image", "inspect", device, "--raw")
        assert result.code == 0, result.err
        fmt = result.json()["format"]
        assert fmt["type"] == "raw" and fmt["virtual_size_bytes"] == raw.stat().st_size
        assert result.json()["os"]["id"] == "ubuntu"
    finally:
        subprocess.run([losetup, "-d", device], check=False)


def test_build_refuses_a_disk_below_azures_minimum(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.vhd"
    message = one_error_line(cli("image", "build", ubuntu_tree, small, "--size", "19M"))
    assert message == ("--size 19 MiB is too small: Azure's smallest managed disk is 20 MiB; "
                       "use --size 20M or more, or leave --size out")
    assert nothing_written(small)
    assert cli("image", "build", ubuntu_tree, small, "--size", "20M").code == 0
    assert small.stat().st_size == 20 * MIB + 512
    assert statuses(cli("image", "check", small, "--raw"))["vhd.size"] == "pass"


def test_a_small_disk_gets_a_size_hint_that_works(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    raw = tmp_path / "small.raw"  # a bare ext4 disk of 16 MiB: readable, but below Azure's minimum
    with open(raw, "wb") as out:
        out.truncate(16 * MIB)
    subprocess.run([find_mkfs_ext4(), "-F", "-q", "-d", str(ubuntu_tree), str(raw)], check=True, capture_output=True)
    size_check = next(c for c in cli("image", "check", raw, "--raw").json()["checks"] if c["id"] == "vhd.size")
    assert size_check["status"] == "fail" and "shipyard image convert SRC DST.vhd --size 20M" in size_check["fix"]
    problems = cli("image", "inspect", raw, "--raw").json()["format"]["azure_problems"]
    assert [p["id"] for p in problems] == ["vhd.format", "vhd.size"]
    command = backticked(problems[1]["fix"])[0]  # the same advice, with this file's names
    assert command == ["shipyard", "image", "convert", str(raw), str(tmp_path / "small.vhd"), "--size", "20M"]
    assert run_shipyard_command(cli, command).code == 0
    got = statuses(cli("image", "check", tmp_path / "small.vhd", "--raw"))
    assert got["vhd.size"] == got["vhd.format"] == got["vhd.alignment"] == got["os.detected"] == "pass"
    shrink = one_error_line(cli("image", "convert", tmp_path / "small.vhd", tmp_path / "x.vhd", "--size", "8M"))
    assert shrink.startswith("--size 8,388,608 bytes is smaller than small.vhd's 20,971,520 bytes")
    assert nothing_written(tmp_path / "x.vhd")


@pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is not installed (apt install qemu-utils)")
@pytest.mark.parametrize("fmt", ["vhdx", "qcow2", "vmdk", "vdi"])
def test_other_formats_get_the_qemu_img_command_that_converts_them(cli, ubuntu_vhd: Path, tmp_path: Path,
                                                                   fmt: str) -> None:
    raw = strip_footer(ubuntu_vhd, tmp_path / "disk.raw")
    src = tmp_path / f"disk.{fmt}"
    subprocess.run([QEMU_IMG, "convert", "-f", "raw", "-O", fmt, str(raw), str(src)], check=True)
    dst = tmp_path / "out.vhd"
    message = one_error_line(cli("image", "convert", src, dst))
    assert "shipyard image convert" not in message  # no advice in circles
    (qemu, check) = backticked(message)
    assert qemu == ["qemu-img", "convert", "-f", fmt, "-O", "vpc", "-o", "subformat=fixed,force_size", str(src),
                    str(dst)]
    assert check == ["shipyard", "image", "check", str(dst)]
    assert nothing_written(dst)
    subprocess.run(qemu, check=True)
    got = statuses(run_shipyard_command(cli, [*check, "--raw"]))
    assert got["vhd.format"] == got["vhd.alignment"] == got["vhd.footer"] == got["vhd.size"] == "pass"
    assert got["docker.installed"] == "pass"
    inspected = one_error_line(cli("image", "inspect", src))  # without a destination: disk.vhd next to it
    assert backticked(inspected)[0][-2:] == [str(src), str(tmp_path / "disk.vhd")]
