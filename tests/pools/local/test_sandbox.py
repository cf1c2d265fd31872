"""The image runtime's sandbox (``pools.local.sandbox``): bwrap over a real busybox userland."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.busybox import make_userland
from shipyard.pools.local import sandbox
from shipyard.pools.local.sandbox import (
    IMAGE_PATH,
    NodeSandbox,
    elf_machine,
    host_machine,
    image_environment,
    machine_problem,
    resource_mount_point,
)
from shipyard.sources.directory import DirectorySource

IMAGE_OS = 'PRETTY_NAME="Sandbox Test Linux 1.0"\nID=sandboxtest\n'
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap (bubblewrap) is not installed")


@pytest.fixture
def node(tmp_path: Path, busybox_binary: Path) -> NodeSandbox:
    root = make_userland(tmp_path / "image", busybox_binary, IMAGE_OS)
    made = NodeSandbox(root, tmp_path / "node" / "root", tmp_path / "node" / "resource", tmp_path / "node" / "tmp",
                       "/mnt")
    for sub in ("shared", "startup", "workitems"):
        (made.node_root / sub).mkdir(parents=True)
    made.prepare()
    return made


def run(node: NodeSandbox, script: str, cwd: str = "/") -> subprocess.CompletedProcess[str]:
    argv = node.argv(["/bin/sh", "-c", script], cwd)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env=image_environment(dict(os.environ)), stdin=subprocess.DEVNULL)


@needs_bwrap
def test_a_process_sees_the_images_root_not_the_hosts(node: NodeSandbox) -> None:
    done = run(node, "cat /etc/os-release")
    assert done.returncode == 0, done.stderr
    assert done.stdout == IMAGE_OS
    assert Path("/etc/os-release").read_text() != IMAGE_OS


@needs_bwrap
def test_the_root_is_read_only_and_the_nodes_directories_are_writable(node: NodeSandbox) -> None:
    done = run(node, "echo x > /usr/new 2>/dev/null; echo usr=$?; echo t > /tmp/t && echo tmp=ok; "
                     "echo w > /mnt/batch/tasks/shared/w && echo shared=ok; echo r > /mnt/r && echo resource=ok")
    assert done.stdout.split() == ["usr=1", "tmp=ok", "shared=ok", "resource=ok"], done.stderr
    assert not (node.image_root / "usr" / "new").exists()
    assert (node.tmp / "t").read_text() == "t\n"
    assert (node.node_root / "shared" / "w").read_text() == "w\n"
    assert (node.resource / "r").read_text() == "r\n"


@needs_bwrap
def test_its_own_pid_namespace_a_fresh_proc_and_a_minimal_dev(node: NodeSandbox) -> None:
    done = run(node, "echo $$; ls /proc | grep -c '^[0-9]*$'; ls /dev")
    lines = done.stdout.split()
    assert int(lines[0]) <= 3  # bwrap's init is 1: the shell is one of the first pids of a new namespace
    assert int(lines[1]) <= 4  # only the sandbox's own processes, not the host's
    assert {"null", "zero", "urandom", "tty"} <= set(lines[2:])
    assert not any(name.startswith(("sd", "nvme")) for name in lines[2:])  # no host disks


@needs_bwrap
def test_it_runs_in_the_in_image_working_directory(node: NodeSandbox) -> None:
    wd = node.node_root / "workitems" / "job" / "job-1" / "task" / "wd"
    wd.mkdir(parents=True)
    inside = node.image_path(wd)
    assert inside == "/mnt/batch/tasks/workitems/job/job-1/task/wd"
    assert run(node, "pwd", inside).stdout.strip() == inside


@needs_bwrap
def test_what_a_process_leaves_running_dies_with_it(node: NodeSandbox, tmp_path: Path) -> None:
    marker = f"SHIPYARD_SANDBOX_TEST={tmp_path.name}"
    argv = node.argv(["/bin/sh", "-c", "setsid sleep 300 & exec sleep 300"], "/")
    env = {**image_environment(dict(os.environ)), "SHIPYARD_SANDBOX_TEST": tmp_path.name}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            process_group=0, env=env)
    try:
        started = _wait_for(lambda: [p for p in _pids_with(marker) if _name(p) == "sleep"], 2)
        assert len(started) == 2  # the one in the task's process group, and the one that left it
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)
        assert _wait_for(lambda: [] if _pids_with(marker) else ["gone"], 1) == ["gone"]
    finally:
        for pid in _pids_with(marker):
            os.kill(int(pid), 9)


def _pids_with(needle: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle.encode() + b"\0" in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def _name(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _wait_for(check, count: int) -> list[str]:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = check()
        if len(got) >= count:
            return got
        time.sleep(0.02)
    return check()


def test_programs_are_looked_up_in_the_image_and_its_binds(node: NodeSandbox) -> None:
    env = {"PATH": IMAGE_PATH}
    assert node.find_program("cat", env, "/") is None  # busybox's applet link, resolved inside the image
    assert node.find_program("/usr/bin/busybox", env, "/") is None
    missing = node.find_program("mkfs.ext4", env, "/")
    assert missing is not None and "not in the image" in missing and shutil.which("mkfs.ext4")
    (node.node_root / "shared" / "tool").write_text("#!/bin/sh\n")
    assert "not an executable" in (node.find_program("/mnt/batch/tasks/shared/tool", env, "/") or "")
    (node.node_root / "shared" / "tool").chmod(0o755)
    assert node.find_program("/mnt/batch/tasks/shared/tool", env, "/") is None
    assert node.find_program("./tool", env, "/mnt/batch/tasks/shared") is None


def test_paths_map_both_ways(node: NodeSandbox) -> None:
    assert node.batch_root == "/mnt/batch/tasks"
    assert node.image_path(node.node_root / "shared") == "/mnt/batch/tasks/shared"
    assert node.image_path(node.tmp / "x") == "/tmp/x"
    assert node.host_path("/mnt/batch/tasks/startup/wd") == node.node_root / "startup" / "wd"
    assert node.host_path("/mnt/other") == node.resource / "other"
    assert node.host_path("/etc/os-release") == node.image_root / "etc" / "os-release"
    with pytest.raises(ValueError):
        node.image_path(Path("/etc"))


@pytest.mark.parametrize(("conf", "mount"), [
    ("ResourceDisk.Format=y\nResourceDisk.MountPoint=/mnt\n", "/mnt"),
    ("ResourceDisk.MountPoint=/mnt/resource # RHEL\n", "/mnt/resource"),
    ("# ResourceDisk.MountPoint=/elsewhere\n", "/mnt"),
    (None, "/mnt"),
])
def test_the_resource_disk_is_where_the_images_waagent_conf_mounts_it(conf: str | None, mount: str) -> None:
    assert resource_mount_point(conf) == mount


def test_an_images_cpu_comes_from_its_programs_elf_header(tmp_path: Path) -> None:
    assert elf_machine(Path("/bin/true").read_bytes()[:64]) == host_machine()
    aarch64 = b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + (0xB7).to_bytes(2, "little")
    assert elf_machine(aarch64 + bytes(44)) == "aarch64"
    assert elf_machine(b"#!/bin/sh\n") is None
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").write_bytes(aarch64 + bytes(44))
    found = sandbox.image_machine(DirectorySource(tmp_path))
    assert found == "aarch64"
    problem = machine_problem(found) if host_machine() != "aarch64" else machine_problem("x86_64")
    assert problem is not None and "this machine is" in problem and "node_runtime: host" in problem
    assert machine_problem(host_machine()) is None and machine_problem(None) is None


def test_without_bwrap_the_image_runtime_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.runtime_problem.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        problem = sandbox.runtime_problem()
    finally:
        sandbox.runtime_problem.cache_clear()
    assert problem is not None
    assert "apt-get install bubblewrap" in problem and "node_runtime: host" in problem


def test_a_process_gets_the_images_path_not_the_hosts() -> None:
    env = image_environment({"PATH": "/host/venv/bin:/usr/bin", "SHELL": "/usr/bin/zsh", "TMPDIR": "/host/tmp",
                             "LANG": "C.UTF-8"})
    assert env == {"PATH": IMAGE_PATH, "LANG": "C.UTF-8"}


def test_a_blob_without_an_md5_is_keyed_by_its_bytes_too() -> None:
    from shipyard.pools.local.rootcache import image_key
    from shipyard.storage.store import BlobProperties

    first, second = b"A" * (3 << 20), b"B" * (3 << 20)
    props = BlobProperties(size_bytes=len(first))
    key_a = image_key("local://a/v/x.vhd", props, lambda offset, length: first[offset:offset + length])
    key_b = image_key("local://a/v/x.vhd", props, lambda offset, length: second[offset:offset + length])
    assert key_a.startswith("uri-") and key_a != key_b  # another image at the same URI: another root
    assert image_key("u", BlobProperties(size_bytes=1, content_md5=bytes(16))) == "md5-" + "00" * 16
    recorded = BlobProperties(size_bytes=1, content_md5=bytes(16),
                              metadata={"shipyard_sparse_sha256": "ab" * 32, "shipyard_sparse_version": "1"})
    assert image_key("u", recorded) == "sparse-" + "ab" * 20  # the sparse digest first: every upload has one
