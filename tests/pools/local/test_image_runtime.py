"""The image node runtime on the local backend: every process of a node runs inside its image.

The image is the Ubuntu 22.04 fixture tree (which passes node prep) with Debian's static busybox
installed in it (``install-busybox.sh``: a real userland, sh and its applets), built into a VHD
by ``image build`` and uploaded to the local store; the pool's nodes unpack it once and run every
task and start task command under bubblewrap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.busybox import INSTALL_BUSYBOX
from fixtures.pools import PoolFiles, build_ubuntu_vhd, finished_tasks, idle_nodes, task_processes, wait_until
from fixtures.trees import write_files
from shipyard.errors import BackendError
from shipyard.pools.local.backend import LocalBackend
from shipyard.pools.local.rootcache import RootCache
from shipyard.pools.models import JobSpec, TaskResult, TaskSpec

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap (bubblewrap) is not installed")
UBUNTU = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"'
PREP = ("/bin/sh -c 'grep PRETTY_NAME /etc/os-release > $AZ_BATCH_NODE_SHARED_DIR/pre.txt'",)


def with_busybox(busybox: Path):
    def mutate(root: Path) -> None:
        subprocess.run([str(INSTALL_BUSYBOX), str(root), str(busybox)], check=True, capture_output=True)
    return mutate


@pytest.fixture(scope="module")
def image_vhd(tmp_path_factory: pytest.TempPathFactory, busybox_binary: Path) -> Path:
    return build_ubuntu_vhd(tmp_path_factory.mktemp("image-vhd"), with_busybox(busybox_binary))


@pytest.fixture(scope="module")
def image_pool(tmp_path_factory: pytest.TempPathFactory, image_vhd: Path) -> Iterator[tuple[LocalBackend, str]]:
    home = tmp_path_factory.mktemp("image-runtime") / "home"
    files = PoolFiles(home)
    backend = LocalBackend(str(home))
    backend.add_pool(files.spec("inimage", [files.upload(image_vhd)], dedicated=1, slots=2, runtime="image",
                                pre=PREP))
    idle_nodes(backend, "inimage", 1)
    try:
        yield backend, "inimage"
    finally:
        backend.delete_pool("inimage")
        backend.close()


def run_tasks(backend: LocalBackend, pool: str, job_id: str, *tasks: TaskSpec) -> dict:
    backend.add_job(JobSpec(job_id, pool, tasks=tasks))
    return finished_tasks(backend, job_id)


def stdout(backend: LocalBackend, job_id: str, task_id: str, name: str = "stdout.txt") -> str:
    return backend.read_task_file(job_id, task_id, name).decode()


def test_a_task_sees_the_images_distribution_not_the_hosts(image_pool) -> None:
    backend, pool = image_pool
    done = run_tasks(backend, pool, "osrel", TaskSpec("cat", "/bin/cat /etc/os-release"))
    assert done["cat"].result == TaskResult.SUCCESS
    assert UBUNTU in stdout(backend, "osrel", "cat")
    assert UBUNTU not in Path("/etc/os-release").read_text()


def test_a_binary_only_in_the_image_runs_and_one_only_on_the_host_does_not(image_pool, image_vhd: Path) -> None:
    backend, pool = image_pool
    assert not Path("/usr/bin/busybox").exists()  # only in the image
    host_only = shutil.which("mkfs.ext4")
    assert host_only is not None
    done = run_tasks(backend, pool, "bins", TaskSpec("image-only", "/usr/bin/busybox echo from-busybox"),
                     TaskSpec("host-only", "mkfs.ext4 -V"), TaskSpec("host-path", host_only + " -V"))
    assert done["image-only"].result == TaskResult.SUCCESS
    assert stdout(backend, "bins", "image-only") == "from-busybox\n"
    for task in ("host-only", "host-path"):
        failure = done[task].failure
        assert done[task].result == TaskResult.FAILURE and failure is not None
        assert failure.code == "CommandProgramNotFound" and "not in the image" in failure.message


def test_the_image_is_read_only_and_the_working_directory_is_not(image_pool) -> None:
    backend, pool = image_pool
    done = run_tasks(backend, pool, "writes",
                     TaskSpec("usr", "/bin/sh -c 'echo x > /usr/written'"),
                     TaskSpec("wd", "/bin/sh -c 'echo kept > $AZ_BATCH_TASK_WORKING_DIR/out.txt'"),
                     TaskSpec("tmp", "/bin/sh -c 'echo t > /tmp/t && cat /tmp/t'"))
    assert done["usr"].result == TaskResult.FAILURE
    assert "Read-only file system" in stdout(backend, "writes", "usr", "stderr.txt")
    assert done["wd"].result == TaskResult.SUCCESS
    assert "wd/out.txt" in [f.name for f in backend.list_task_files("writes", "wd", "wd")]
    assert backend.read_task_file("writes", "wd", "wd/out.txt") == b"kept\n"
    assert done["tmp"].result == TaskResult.SUCCESS and stdout(backend, "writes", "tmp") == "t\n"


def test_batch_paths_are_where_azure_puts_them_in_the_image(image_pool) -> None:
    backend, pool = image_pool
    script = "echo $AZ_BATCH_NODE_ROOT_DIR $AZ_BATCH_NODE_SHARED_DIR $AZ_BATCH_TASK_WORKING_DIR; pwd; echo $PATH"
    run_tasks(backend, pool, "paths", TaskSpec("env", f"/bin/sh -c '{script}'"))
    dirs, pwd, path = stdout(backend, "paths", "env").splitlines()
    root, shared, wd = dirs.split()
    assert (root, shared) == ("/mnt/batch/tasks", "/mnt/batch/tasks/shared")
    assert wd == pwd == "/mnt/batch/tasks/workitems/paths/job-1/env/wd"
    assert path == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_the_start_task_commands_ran_inside_the_image(image_pool) -> None:
    backend, pool = image_pool
    node = backend.list_nodes(pool)[0]
    assert backend.read_node_file(pool, node.id, "shared/pre.txt").decode().strip() == UBUNTU
    out = backend.read_node_file(pool, node.id, "startup/stdout.txt").decode()
    assert "node runtime image" in out and "/mnt/batch/tasks" in out


def test_a_task_past_its_wall_time_leaves_no_process_behind(image_pool) -> None:
    backend, pool = image_pool
    # one sleep in the task's process group, one that left it (setsid): both go with the namespace
    backend.add_job(JobSpec("walltime", pool, tasks=(
        TaskSpec("forks", "/bin/sh -c 'setsid sleep 600 & sleep 600'", max_wall_time_s=2),)))
    def both_sleeps() -> list[int] | None:
        found = task_processes("walltime", "forks")
        return found if len(found) >= 2 else None

    pids = wait_until(both_sleeps, "the task's two sleeps")
    assert len({os.getpgid(pid) for pid in pids}) == 2  # one of them left the task's process group
    done = finished_tasks(backend, "walltime")
    assert done["forks"].failure is not None and done["forks"].failure.code == "MaxWallClockTimeExpiry"
    assert wait_until(lambda: task_processes("walltime", "forks") == [] or None, "no process of the task left")


def test_a_second_pool_on_the_same_image_reuses_its_root(image_pool, image_vhd: Path) -> None:
    backend, _ = image_pool
    cache = RootCache(backend.layout.home)
    before = [(e.key, e.manifest) for e in cache.entries()]
    assert len(before) == 1 and before[0][1] is not None
    files = PoolFiles(backend.layout.home)
    copy = files.upload(image_vhd, "copy.vhd", account="localacct2")  # another account, the same content
    spec = backend.add_pool(files.spec("again", [copy], dedicated=0, runtime="image",
                                       links="localsa2:\n  account: localacct2\n  endpoint: local\n"))
    try:
        assert [(e.key, e.manifest) for e in cache.entries()] == before  # not unpacked again
        assert spec.node_runtime == "image"
    finally:
        backend.delete_pool("again")


def test_an_image_for_another_cpu_is_refused_before_it_is_unpacked(tmp_path: Path, pool_files) -> None:
    arm_sh = b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + (0xB7).to_bytes(2, "little")
    foreign = (0x3E, "x86_64") if __import__("platform").machine() == "aarch64" else (0xB7, "aarch64")
    header = arm_sh[:18] + foreign[0].to_bytes(2, "little") + bytes(44)

    def mutate(root: Path) -> None:
        sh = root / "usr" / "bin" / "sh"
        sh.unlink(missing_ok=True)
        write_files(root, {"/usr/bin/sh": header}, mode=0o755)

    vhd = build_ubuntu_vhd(tmp_path / "arm", mutate)
    backend = LocalBackend(str(pool_files.home))
    try:
        with pytest.raises(BackendError, match=f"for {foreign[1]}, and this machine is"):
            backend.add_pool(pool_files.spec("arm", [pool_files.upload(vhd, "arm.vhd")], runtime="image"))
        assert backend.list_pools() == []
        assert RootCache(pool_files.home).entries() == []
    finally:
        backend.close()


def test_without_bwrap_pool_add_refuses_and_names_the_fix(pool_files, ubuntu_vhd: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.pools.local import sandbox

    backend = LocalBackend(str(pool_files.home))
    sandbox.runtime_problem.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(BackendError, match="apt-get install bubblewrap") as raised:
            backend.add_pool(pool_files.spec("nobwrap", [pool_files.upload(ubuntu_vhd)], runtime="image"))
        assert "node_runtime: host" in str(raised.value)
        assert backend.list_pools() == []
    finally:
        sandbox.runtime_problem.cache_clear()
        backend.close()


def test_the_resource_disk_follows_the_images_waagent_conf(tmp_path: Path, pool_files, busybox_binary: Path) -> None:
    def mutate(root: Path) -> None:
        with_busybox(busybox_binary)(root)
        conf = root / "etc" / "waagent.conf"
        text = conf.read_text() if conf.exists() else ""
        conf.write_text(text.replace("ResourceDisk.MountPoint=/mnt", "ResourceDisk.MountPoint=/mnt/resource")
                        if "ResourceDisk.MountPoint=" in text else text + "ResourceDisk.MountPoint=/mnt/resource\n")

    vhd = build_ubuntu_vhd(tmp_path / "rhel-like", mutate)
    backend = LocalBackend(str(pool_files.home))
    try:
        backend.add_pool(pool_files.spec("resource", [pool_files.upload(vhd, "res.vhd")], runtime="image"))
        idle_nodes(backend, "resource", 1)
        run_tasks(backend, "resource", "res", TaskSpec("root", "/bin/sh -c 'echo $AZ_BATCH_NODE_ROOT_DIR; pwd'"))
        assert stdout(backend, "res", "root").split() == [
            "/mnt/resource/batch/tasks", "/mnt/resource/batch/tasks/workitems/res/job-1/root/wd"]
    finally:
        backend.delete_pool("resource")
        backend.close()


def test_a_launcher_that_dies_takes_its_tasks_and_the_node_starts_another(image_pool) -> None:
    backend, pool = image_pool
    backend.add_job(JobSpec("launcher", pool, tasks=(TaskSpec("long", "/bin/sleep 600"),)))

    def launcher_pid() -> int | None:
        for name in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(part.endswith(b"launcher.py") for part in cmdline) and b"bwrap" not in cmdline[0]:
                return int(name)
        return None

    wait_until(lambda: task_processes("launcher", "long") or None, "the long task to run")
    pid = wait_until(launcher_pid, "the node's launcher")
    os.kill(pid, 9)
    done = finished_tasks(backend, "launcher")
    assert done["long"].result == TaskResult.FAILURE and done["long"].exit_code == 137  # killed with it
    assert task_processes("launcher", "long") == []
    again = run_tasks(backend, pool, "after", TaskSpec("echo", "/bin/echo still here"))
    assert again["echo"].result == TaskResult.SUCCESS and stdout(backend, "after", "echo") == "still here\n"


def test_what_a_task_leaves_dies_with_it_even_with_a_clean_environment(image_pool) -> None:
    backend, pool = image_pool
    # daemons that leave the task's group and session, one of them with an empty environment
    done = run_tasks(backend, pool, "daemons",
                     TaskSpec("clean-env", "/bin/sh -c 'setsid env -i /bin/sleep 7771 & sleep 1'"),
                     TaskSpec("unset", "/bin/sh -c 'unset SHIPYARD_TASK; setsid sleep 7772 & sleep 1'"))
    assert {t.result for t in done.values()} == {TaskResult.SUCCESS}

    def sleeping(seconds: bytes) -> list[str]:
        found = []
        for name in filter(str.isdigit, os.listdir("/proc")):
            try:
                if Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")[:2] in (
                        [b"/bin/sleep", seconds], [b"sleep", seconds]):
                    found.append(name)
            except OSError:
                continue
        return found

    assert wait_until(lambda: (not sleeping(b"7771") and not sleeping(b"7772")) or None, "no daemon left")


def test_a_program_not_in_the_image_is_named_with_the_path_it_was_looked_for_on(image_pool) -> None:
    backend, pool = image_pool
    done = run_tasks(backend, pool, "named", TaskSpec("missing", "no-such-program --flag"))
    failure = done["missing"].failure
    assert failure is not None and failure.code == "CommandProgramNotFound"
    assert "'no-such-program' is not in the image" in failure.message and "/usr/bin" in failure.message
