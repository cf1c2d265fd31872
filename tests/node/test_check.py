"""`check_node`: runtime probes on a live root only; any other root reads the static facts."""

from __future__ import annotations

from pathlib import Path

from fixtures.trees import write_files, write_ubuntu_2204
from shipyard.node.check import check_mode, check_node, gather_node_evidence
from shipyard.results import Status
from shipyard.rules.context import PoolContext

GPU = PoolContext.from_config(None, vm_size="Standard_NC24ads_A100_v4")


def tree_with_runtime_files(root: Path) -> Path:
    write_ubuntu_2204(root)
    write_files(root, {
        "/proc/modules": "nvidia 5 0 - Live 0x0\n",
        "/proc/net/tcp": "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A 0 0\n",
        "/proc/mounts": "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt ext4 rw 0 0\n",
        "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5\n",
    })
    (root / "var/run").mkdir(parents=True, exist_ok=True)  # no docker.sock: dockerd is not running
    return root


def by_id(results) -> dict:
    return {r.id: r for r in results}


def test_another_root_is_offline_and_never_probed(tmp_path: Path) -> None:
    root = tree_with_runtime_files(tmp_path / "root")
    calls: list[list[str]] = []
    evidence = gather_node_evidence(root, runner=lambda argv: (calls.append(argv), (0, ""))[1])
    assert evidence.probes is None and calls == []
    assert check_mode(root) == "offline" and check_mode("/") == "live"
    got = by_id(check_node(root, GPU))
    assert got["docker.socket"].status is Status.PASS  # from daemon.json and docker.service
    assert got["gpu.driver"].message.startswith("nvidia module for kernel")
    # the image-file rules skip, and an offline tree is not called a live node
    assert got["vhd.format"].status is Status.SKIP
    assert got["vhd.format"].message == "skipped: not an image file (a root directory)"


def test_a_live_root_is_probed(tmp_path: Path) -> None:
    root = tree_with_runtime_files(tmp_path / "root")
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> tuple[int, str]:
        calls.append(argv)
        return 0, "GPU 0: NVIDIA A100 80GB PCIe"

    got = by_id(check_node(root, GPU, live=True, runner=runner))
    assert calls == [["nvidia-smi", "-L"]]
    assert (got["gpu.driver"].status, got["gpu.driver"].message) == (
        Status.PASS, "NVIDIA driver 550.54.15 loaded, nvidia-smi runs")
    # live, the socket's absence is a fact: dockerd is not running
    assert (got["docker.socket"].status, got["docker.socket"].message) == (
        Status.FAIL, "/var/run/docker.sock does not exist")
    assert got["docker.installed"].message.startswith("docker engine found")  # the ping found no daemon
    assert got["ssh.port"].message == "a process listens on TCP 22"


def test_live_probes_see_an_unloaded_driver(tmp_path: Path) -> None:
    root = tree_with_runtime_files(tmp_path / "root")
    write_files(root, {"/proc/modules": "ext4 1 0 - Live 0x0\n"})
    got = by_id(check_node(root, GPU, live=True, runner=lambda argv: (0, "")))
    assert got["gpu.driver"].status is Status.FAIL
    assert got["gpu.driver"].message == "the nvidia kernel module is not loaded (/proc/modules)"
    offline = by_id(check_node(root, GPU))
    assert offline["gpu.driver"].status is Status.PASS  # offline: the module is installed for the boot kernel
