"""`shipyard image ...` on real images built from small trees with `image build`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fixtures.images import write_dynamic_vhd
from fixtures.trees import remove, write_files, write_ubuntu_2204
from shipyard.image.inspect import INSPECT_KEYS
from shipyard.rules.registry import RULE_IDS

GPU_POOL = """
pool_specification:
  id: gpupool
  vm_configuration:
    custom_image:
      image_uris: [https://acct1.blob.core.windows.net/vhds/u.vhd]
      node_agent: batch.node.ubuntu 22.04
  vm_size: Standard_NC24ads_A100_v4
  vm_count: 4
"""


@pytest.fixture(scope="module")
def ubuntu_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ubuntu_2204(tmp_path_factory.mktemp("tree") / "root")


@pytest.fixture(scope="module")
def ubuntu_vhd(ubuntu_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shipyard.cli.main import main

    out = tmp_path_factory.mktemp("img") / "ubuntu.vhd"
    assert main(["image", "build", str(ubuntu_tree), str(out), "--raw"]) == 0
    return out


def statuses(result) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result.json()["checks"]}


def test_build_writes_an_azure_ready_fixed_vhd(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.vhd"
    result = cli("image", "build", ubuntu_tree, out, "--size", "64M", "--table", "gpt", "--raw")
    assert result.code == 0
    assert result.json() == {"source": str(ubuntu_tree), "path": str(out), "format": "vhd-fixed", "size_bytes": 64 << 20}
    assert out.stat().st_size == (64 << 20) + 512
    again = cli("image", "build", ubuntu_tree, out)
    assert again.code == 2 and "exists" in again.err


def test_inspect_raw_has_the_stable_keys(cli, ubuntu_vhd: Path) -> None:
    before = hashlib.sha256(ubuntu_vhd.read_bytes()).hexdigest()
    result = cli("image", "inspect", ubuntu_vhd, "--raw")
    data = result.json()
    assert result.code == 0 and tuple(data) == INSPECT_KEYS
    assert data["os"]["id"] == "ubuntu" and data["node_agent"] == "batch.node.ubuntu 22.04"
    assert data["format"]["type"] == "vhd-fixed" and data["format"]["azure_problems"] == []
    assert data["format"]["root"] == {"location": "partition 1", "filesystem": "ext4"}
    assert data["format"]["geometry"]["matches_spec"] is True
    assert data["services"]["units"]["docker.service"]["enabled"] is True
    assert hashlib.sha256(ubuntu_vhd.read_bytes()).hexdigest() == before  # read-only


def test_check_passes_a_good_gpu_image_with_the_pool_spec(cli, ubuntu_vhd: Path, write_config) -> None:
    directory = write_config(pool=GPU_POOL)
    result = cli("image", "check", ubuntu_vhd, "--configdir", directory, "--raw")
    report = result.json()
    assert result.code == 0, [c for c in report["checks"] if c["status"] == "fail"]
    assert report["image"] == str(ubuntu_vhd) and report["ok"] is True
    assert [c["id"] for c in report["checks"]] == list(RULE_IDS)
    got = statuses(result)
    assert got["gpu.driver"] == got["gpu.container_runtime"] == got["os.node_agent"] == "pass"
    assert got["rdma.driver"] == "skip" and got["disk.resource_mount"] == "warn"
    for check in report["checks"]:
        assert set(check) == {"id", "status", "severity", "message", "fix"}


def test_without_a_pool_size_rules_skip(cli, ubuntu_vhd: Path) -> None:
    got = statuses(cli("image", "check", ubuntu_vhd, "--raw"))
    assert got["gpu.driver"] == got["rdma.driver"] == got["os.node_agent"] == "skip"
    assert got["docker.installed"] == "pass"


def test_a_broken_image_fails_with_exit_1(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "root"
    shutil.copytree(ubuntu_tree, root, symlinks=True)
    remove(root, "/usr/bin/dockerd", "/etc/systemd/system/multi-user.target.wants/ssh.service")
    write_files(root, {"/etc/ssh/sshd_config.d/port.conf": "Port 2200\n",
                       "/etc/waagent.conf": "ResourceDisk.Format=y\nResourceDisk.MountPoint=/data\n"})
    image = tmp_path / "bad.vhd"
    assert cli("image", "build", root, image).code == 0
    result = cli("image", "check", image, "--vm-size", "Standard_HB120rs_v3", "--node-agent", "batch.node.el 9", "--raw")
    assert result.code == 1
    got = statuses(result)
    for rule_id in ("docker.installed", "docker.socket", "ssh.enabled", "ssh.port", "os.node_agent",
                    "rdma.userland", "disk.resource_mount"):
        assert got[rule_id] == "fail", rule_id
    human = cli("image", "check", image)
    assert human.code == 1 and human.out.splitlines()[-1].startswith(f"{image}: FAILED")


def test_a_dynamic_vhd_fails_the_format_rule_and_converts(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    with open(ubuntu_vhd, "rb") as src, open(raw, "wb") as dst:
        dst.write(src.read()[:-512])
    dynamic = write_dynamic_vhd(raw, tmp_path / "dyn.vhd")
    got = statuses(cli("image", "check", dynamic, "--raw"))
    assert got["vhd.format"] == "fail" and got["docker.installed"] == "pass"
    fixed = tmp_path / "fixed.vhd"
    converted = cli("image", "convert", dynamic, fixed, "--raw")
    assert converted.code == 0 and converted.json()["format"] == "vhd-fixed"
    assert statuses(cli("image", "check", fixed, "--raw"))["vhd.format"] == "pass"


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


def test_size_parsing(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    result = cli("image", "build", ubuntu_tree, tmp_path / "y.vhd", "--size", "lots")
    assert result.code == 2 and "expected a size" in result.err


def test_bad_checksum_truncation_and_bat_past_the_end(cli, ubuntu_vhd: Path, tmp_path: Path) -> None:
    data = bytearray(ubuntu_vhd.read_bytes())
    bad_checksum = tmp_path / "checksum.vhd"
    data[-512 + 64] ^= 0xFF  # the footer's checksum field
    bad_checksum.write_bytes(bytes(data))
    inspected = cli("image", "inspect", bad_checksum)
    assert inspected.code == 2 and "checksum" in inspected.err and inspected.err.count("\n") == 1
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
