"""`shipyard node check --root TREE`: the same rules, facts from a live root plus fake /proc."""

from __future__ import annotations

from pathlib import Path

from fixtures.trees import write_files, write_ubuntu_2204
from shipyard.rules.registry import RULE_IDS

PROC_TCP = (
    "  sl  local_address rem_address   st\n"
    "   0: 00000000:0016 00000000:0000 0A 0 0\n"
)


def live_tree(root: Path, *, nvidia_loaded: bool) -> Path:
    write_ubuntu_2204(root)
    modules = "nvidia 1 0 - Live 0x0\n" if nvidia_loaded else "ext4 1 0 - Live 0x0\n"
    write_files(root, {
        "/proc/modules": modules,
        "/proc/net/tcp": PROC_TCP,
        "/proc/mounts": "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt ext4 rw 0 0\n",
        "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5\n",
        "/dev/null": "",
    })
    return root


def test_node_check_raw_shape_and_gpu_from_probes(cli, tmp_path: Path) -> None:
    root = live_tree(tmp_path / "root", nvidia_loaded=True)
    result = cli("node", "check", "--root", root, "--vm-size", "Standard_NC24ads_A100_v4", "--raw")
    report = result.json()
    assert set(report) == {"root", "ok", "checks"}
    assert [c["id"] for c in report["checks"]] == list(RULE_IDS)
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["gpu.driver"]["status"] == "pass"
    assert "550.54.15" in by_id["gpu.driver"]["message"]
    assert by_id["vhd.format"]["status"] == "skip"
    assert by_id["ssh.port"]["status"] == "pass"
    assert result.code == 0, [c for c in report["checks"] if c["status"] == "fail"]


def test_node_check_fails_when_the_driver_is_not_loaded(cli, tmp_path: Path) -> None:
    root = live_tree(tmp_path / "root", nvidia_loaded=False)
    result = cli("node", "check", "--root", root, "--vm-size", "Standard_NC24ads_A100_v4")
    assert result.code == 1
    assert "the nvidia kernel module is not loaded" in result.out
    assert "FAILED" in result.out.splitlines()[-1]


def test_fail_level_warning_and_skip_check(cli, tmp_path: Path) -> None:
    root = live_tree(tmp_path / "root", nvidia_loaded=False)
    base = ("node", "check", "--root", root, "--raw")
    assert cli(*base).code == 0
    assert cli(*base, "--fail-level", "warning").code == 1  # disk.resource_mount warns: data-root on the OS disk
    assert cli(*base, "--fail-level", "warning", "--skip-check", "disk.resource_mount").code == 0


def test_bad_input(cli, tmp_path: Path) -> None:
    result = cli("node", "check", "--root", tmp_path / "nope")
    assert (result.code, result.err) == (2, f"shipyard: error: --root {tmp_path / 'nope'}: not a directory\n")
    result = cli("node", "check", "--root", tmp_path, "--skip-check", "docker.bogus")
    assert result.code == 2 and "unknown rule id docker.bogus" in result.err
