"""`shipyard node check --root TREE`: the same rules; probes only on the live /, static facts elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.trees import write_files, write_ubuntu_2204
from shipyard.rules.registry import RULE_IDS

PROC_TCP = (
    "  sl  local_address rem_address   st\n"
    "   0: 00000000:0016 00000000:0000 0A 0 0\n"
)
GPU = "Standard_NC24ads_A100_v4"


def node_tree(root: Path, *, nvidia_loaded: bool) -> Path:
    """A node's files with what a live node would have in /proc and /var/run (but no docker socket)."""
    write_ubuntu_2204(root)
    modules = "nvidia 1 0 - Live 0x0\n" if nvidia_loaded else "ext4 1 0 - Live 0x0\n"
    write_files(root, {
        "/proc/modules": modules,
        "/proc/net/tcp": PROC_TCP,
        "/proc/mounts": "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt ext4 rw 0 0\n",
        "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5\n",
        "/dev/null": "",
    })
    (root / "var/run").mkdir(parents=True, exist_ok=True)  # empty, as it always is offline
    return root


def test_node_check_raw_shape_and_offline_mode(cli, tmp_path: Path) -> None:
    root = node_tree(tmp_path / "root", nvidia_loaded=False)
    result = cli("node", "check", "--root", root, "--vm-size", GPU, "--raw")
    report = result.json()
    assert list(report) == ["root", "mode", "ok", "checks"]
    assert (report["root"], report["mode"]) == (str(root), "offline")
    assert [c["id"] for c in report["checks"]] == list(RULE_IDS)
    by_id = {c["id"]: c for c in report["checks"]}
    # the tree's empty /var/run and its /proc are not read: the static facts decide, as for an image
    assert by_id["docker.socket"]["status"] == "pass"
    assert by_id["docker.socket"]["message"] == "dockerd will listen on unix:///var/run/docker.sock"
    assert by_id["gpu.driver"]["status"] == "pass"
    assert by_id["gpu.driver"]["message"].startswith("nvidia module for kernel 5.15.0-1053-azure")
    assert by_id["ssh.port"]["message"] == "sshd listens on port 22"
    assert by_id["vhd.format"]["status"] == "skip"
    assert result.code == 0, [c for c in report["checks"] if c["status"] == "fail"]


def test_human_output_names_the_mode(cli, tmp_path: Path) -> None:
    root = node_tree(tmp_path / "root", nvidia_loaded=False)
    result = cli("node", "check", "--root", root)
    assert result.out.splitlines()[0].startswith("mode: offline: the tree's files only")


def expected_ssh_probe_message() -> str:
    """What the live probe must say about TCP 22, from this machine's own /proc/net/tcp*."""
    listening = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        listening |= any(f.split()[3] == "0A" and f.split()[1].endswith(":0016") for f in lines)
    return "a process listens on TCP 22" if listening else "nothing listens on TCP 22"


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="no /proc/net/tcp on this machine")
def test_the_real_root_is_live_and_probed(cli) -> None:
    report = cli("node", "check", "--root", "/", "--raw").json()
    assert report["mode"] == "live"
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["ssh.port"]["message"] == expected_ssh_probe_message()


def test_fail_level_warning_and_skip_check(cli, tmp_path: Path) -> None:
    root = node_tree(tmp_path / "root", nvidia_loaded=False)
    base = ("node", "check", "--root", root, "--raw")
    assert cli(*base).code == 0
    warned = cli(*base, "--fail-level", "warning")
    assert warned.code == 1  # docker.data_root warns: /var/lib/docker is on the OS disk
    # boot.fstab is unknown: a root directory has no volumes for fstab's LABEL=rootfs to name
    assert [c["id"] for c in warned.json()["checks"] if c["status"] in ("warn", "unknown")] == ["boot.fstab", "docker.data_root"]
    assert cli(*base, "--fail-level", "warning", "--skip-check", "docker.data_root", "--skip-check", "boot.fstab").code == 0


def test_an_unknown_vm_size_warns_and_the_gpu_rules_are_unknown(cli, tmp_path: Path) -> None:
    root = node_tree(tmp_path / "root", nvidia_loaded=False)
    result = cli("node", "check", "--root", root, "--vm-size", "Standard_NC6sv3", "--raw")
    by_id = {c["id"]: c for c in result.json()["checks"]}
    assert (by_id["vm.size_known"]["status"], by_id["vm.size_known"]["severity"]) == ("warn", "warning")
    assert "closest: Standard_NC6s_v3" in by_id["vm.size_known"]["message"]
    for rule_id in ("gpu.driver", "gpu.container_runtime", "rdma.driver", "rdma.userland"):
        assert by_id[rule_id]["status"] == "unknown", rule_id
    assert result.code == 0  # warnings: fail only at --fail-level warning


@pytest.mark.parametrize("command", ["check", "prep"])
@pytest.mark.parametrize("size", ["", "  "])
def test_an_empty_vm_size_is_a_usage_error(cli, tmp_path: Path, command: str, size: str) -> None:
    root = node_tree(tmp_path / "root", nvidia_loaded=False)
    result = cli("node", command, "--root", root, "--state-dir", tmp_path / "state", "--vm-size", size) if (
        command == "prep") else cli("node", command, "--root", root, "--vm-size", size)
    assert result.code == 2
    assert "--vm-size" in result.err and "must not be empty" in result.err
    assert not (tmp_path / "state").exists()  # refused before anything ran


def test_bad_input(cli, tmp_path: Path) -> None:
    result = cli("node", "check", "--root", tmp_path / "nope")
    assert (result.code, result.err) == (2, f"shipyard: error: --root {tmp_path / 'nope'}: not a directory\n")
    result = cli("node", "check", "--root", tmp_path, "--skip-check", "docker.bogus")
    assert result.code == 2 and "unknown rule id docker.bogus" in result.err
