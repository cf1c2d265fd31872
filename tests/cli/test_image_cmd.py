"""`shipyard image ...` on real images built from small trees with `image build`.

The Ubuntu tree and its image (``ubuntu_tree``, ``ubuntu_vhd``) come from ``tests/cli/conftest.py``;
files that cannot be read, or that Azure would refuse, are in ``test_image_problems.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fixtures.image_cli import GPU_POOL, statuses
from fixtures.images import write_dynamic_vhd
from fixtures.trees import remove, write_files
from shipyard.checks.image import INSPECT_KEYS
from shipyard.rules.registry import RULE_IDS


def test_build_writes_an_azure_ready_fixed_vhd(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.vhd"
    result = cli("image", "build", ubuntu_tree, out, "--size", "64M", "--table", "gpt", "--raw")
    assert result.code == 0
    assert result.json() == {"source": str(ubuntu_tree), "path": str(out), "format": "vhd-fixed", "size_bytes": 64 << 20}
    assert out.stat().st_size == (64 << 20) + 512
    again = cli("image", "build", ubuntu_tree, out)
    assert again.code == 2 and again.err.count("\n") == 1
    assert f"{out} already exists; pass --overwrite to replace it" in again.err
    assert cli("image", "build", ubuntu_tree, out, "--size", "32M", "--overwrite").code == 0
    assert out.stat().st_size == (32 << 20) + 512


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


def test_inspect_shows_the_boot_section(cli, ubuntu_vhd: Path) -> None:
    data = cli("image", "inspect", ubuntu_vhd, "--raw").json()
    boot = data["boot"]
    assert boot["default_kernel"] == "5.15.0-1053-azure" and boot["bootloader"]["kind"] == "grub"
    assert boot["cmdline"] == "root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0"
    assert data["generation"] == {"generations": [], "reason": data["generation"]["reason"]}
    assert data["disk"]["scheme"] == "mbr" and data["disk"]["volumes"][0]["is_root"] is True
    assert data["mounts"]["entries"][0]["mount_point"] == "/"
    text = cli("image", "inspect", ubuntu_vhd).out
    rows = {line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip() for line in text.splitlines() if "  " in line}
    assert rows["boot kernel"] == "5.15.0-1053-azure, /boot/vmlinuz-5.15.0-1053-azure; the default boot entry (/boot/grub/grub.cfg)"
    assert rows["initramfs"] == "none"
    assert rows["hyper-v"] == "hv_vmbus (built in), hv_storvsc (built in), hv_netvsc (built in)"
    assert rows["bootloader"] == "grub (/boot/grub/grub.cfg)"
    assert rows["generation"].startswith("none: MBR with no boot code")
    assert rows["command line"].startswith("root=LABEL=cloudimg-rootfs ro") and "console=ttyS0 (from /boot/grub/grub.cfg)" in rows["command line"]


def test_check_passes_a_good_gpu_image_with_the_pool_spec(cli, ubuntu_vhd: Path, write_config) -> None:
    directory = write_config(pool=GPU_POOL)
    result = cli("image", "check", ubuntu_vhd, "--configdir", directory, "--raw")
    report = result.json()
    assert result.code == 0, [c for c in report["checks"] if c["status"] == "fail"]
    assert report["image"] == str(ubuntu_vhd) and report["ok"] is True
    assert [c["id"] for c in report["checks"]] == list(RULE_IDS)
    got = statuses(result)
    assert got["gpu.driver"] == got["gpu.container_runtime"] == got["os.node_agent"] == "pass"
    assert got["rdma.driver"] == "skip" and got["disk.resource_mount"] == "pass" and got["docker.data_root"] == "warn"
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


def test_size_parsing(cli, ubuntu_tree: Path, tmp_path: Path) -> None:
    result = cli("image", "build", ubuntu_tree, tmp_path / "y.vhd", "--size", "lots")
    assert result.code == 2 and "expected a size" in result.err


def test_inspect_shows_the_image_text_verbatim_and_each_problem_with_its_fix(cli, tmp_path: Path) -> None:
    """Text read from the image ([/] in PRETTY_NAME) is not rich markup; an Azure problem names its fix."""
    from fixtures.images import write_rootfs

    pretty = 'PRETTY_NAME="Debian [/] [bold]12"\nNAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n'
    root = write_rootfs(tmp_path / "root", {"etc/os-release": pretty})
    image = tmp_path / "disk.vhd"
    assert cli("image", "build", root, image).code == 0
    data = bytearray(image.read_bytes())
    data[-512 + 64] ^= 0xFF  # a bad footer checksum: an Azure problem that convert repairs
    image.write_bytes(bytes(data))
    result = cli("image", "inspect", image)
    assert result.code == 0, result.err
    lines = [" ".join(line.split()) for line in result.out.splitlines()]
    assert "os Debian [/] [bold]12 (family debian)" in lines
    assert f"fix: `shipyard image convert {image} {tmp_path / 'disk-fixed.vhd'}`" in " ".join(result.out.split())
    assert "None" not in result.out  # no kernel: said in words
