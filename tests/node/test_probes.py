"""Runtime probes read fake /proc, /sys and /dev trees through the FileSource API."""

from __future__ import annotations

import socket
from pathlib import Path

from shipyard.node.probes import docker_ping, listening_tcp_ports, probe_runtime
from shipyard.sources import DirectorySource

PROC_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0A00000A:D2B4 0A00000B:01BB 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
"""
PROC_TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:74B4 00000000000000000000000000000000:0000 0A 0 0
"""


def fake_node(root: Path, *, nvidia: bool, uverbs: bool) -> Path:
    (root / "proc/net").mkdir(parents=True)
    (root / "proc/net/tcp").write_text(PROC_TCP)
    (root / "proc/net/tcp6").write_text(PROC_TCP6)
    modules = "ext4 1 0 - Live 0x0\n" + ("nvidia_uvm 1 0 - Live 0x0\nnvidia 5 1 nvidia_uvm, Live 0x0\n" if nvidia else "")
    (root / "proc/modules").write_text(modules)
    (root / "proc/mounts").write_text("/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt ext4 rw 0 0\n")
    if nvidia:
        (root / "proc/driver/nvidia").mkdir(parents=True)
        (root / "proc/driver/nvidia/version").write_text(
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
        )
    (root / "dev").mkdir()
    if uverbs:
        (root / "dev/infiniband").mkdir()
        (root / "dev/infiniband/uverbs0").write_text("")
    return root


def test_probes_from_fake_proc(tmp_path: Path) -> None:
    probes = probe_runtime(DirectorySource(fake_node(tmp_path, nvidia=True, uverbs=True)), live=False)
    assert probes.nvidia_module_loaded is True
    assert probes.nvidia_driver_version == "550.54.15"
    assert probes.nvidia_smi_ok is None  # commands run only on the real root
    assert probes.docker_responds is None
    assert probes.infiniband_uverbs is True
    assert probes.listening_tcp_ports == frozenset({22, 8080, 29876})
    assert probes.mounted_paths == frozenset({"/", "/mnt"})


def test_absent_devices_and_modules(tmp_path: Path) -> None:
    probes = probe_runtime(DirectorySource(fake_node(tmp_path, nvidia=False, uverbs=False)), live=False)
    assert probes.nvidia_module_loaded is False
    assert probes.nvidia_driver_version is None
    assert probes.infiniband_uverbs is False


def test_unreadable_proc_is_unknown(tmp_path: Path) -> None:
    probes = probe_runtime(DirectorySource(tmp_path), live=False)
    assert probes.nvidia_module_loaded is None
    assert probes.listening_tcp_ports is None
    assert probes.infiniband_uverbs is None
    assert listening_tcp_ports(DirectorySource(tmp_path)) is None


def test_nvidia_smi_runs_only_live_and_when_loaded(tmp_path: Path) -> None:
    calls = []

    def runner(argv):
        calls.append(argv)
        return 0, "GPU 0: NVIDIA A100 80GB PCIe (UUID: GPU-x)"

    probes = probe_runtime(DirectorySource(fake_node(tmp_path, nvidia=True, uverbs=False)), live=True, runner=runner)
    assert calls == [["nvidia-smi", "-L"]]
    assert probes.nvidia_smi_ok is True


def test_docker_ping_against_a_real_unix_socket(tmp_path: Path) -> None:
    import threading

    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=serve)
    thread.start()
    assert docker_ping(path) is True
    thread.join()
    server.close()
    assert docker_ping(str(tmp_path / "missing.sock")) is False
