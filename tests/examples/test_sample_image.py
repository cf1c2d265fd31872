"""examples/: the sample image root and the config `make demo` runs, kept from rotting.

The sample is built the way the demo and its README build it (``copy-rootfs.sh``, which also
installs the static busybox of ``fixtures.busybox`` and the boot chain of ``install-boot.sh``, then
``build_image`` as demo/run.sh's ``build_args`` say: GPT, an EFI system partition) and must pass
every rule that applies to the example pool; the broken variant (``break-rootfs.sh``) must fail
exactly the rules it breaks.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures.busybox import no_apt_lists_env

from shipyard.config.loader import ConfigPaths, load_config_set
from shipyard.config.pool_edit import set_custom_image
from shipyard.image.build import build_image
from shipyard.rules.registry import RULE_IDS

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample-image"
ROOTFS = SAMPLE / "rootfs"
CONFIG = REPO / "examples" / "config"
SCRIPTS = (REPO / "demo" / "run.sh", SAMPLE / "copy-rootfs.sh", SAMPLE / "break-rootfs.sh",
           SAMPLE / "get-busybox.sh", SAMPLE / "install-busybox.sh", SAMPLE / "install-boot.sh",
           SAMPLE / "get-deb.sh", SAMPLE / "get-kernel.sh")
MIB = 1024 * 1024
SIZE = 64 * MIB  # demo/run.sh's build_args: `image build --size 64M --table gpt --esp 16M --uuid ... --esp-uuid ...`
ROOT_UUID = (SAMPLE / "root-uuid").read_text().strip()
ESP_UUID = (SAMPLE / "esp-uuid").read_text().strip()
DEMO_BUILD_ARGS = 'build_args="--size 64M --table gpt --esp 16M --uuid $(cat "$sample/root-uuid") --esp-uuid $(cat "$sample/esp-uuid")"'


def build_sample(root: Path, vhd: Path) -> Path:
    return build_image(root, vhd, SIZE, table="gpt", esp_bytes=16 * MIB, fs_uuid=ROOT_UUID, esp_uuid=ESP_UUID)

# The rules that do not apply to the example pool: a GPU-less, non-RDMA size, no shared storage.
NOT_APPLICABLE = {
    "gpu.driver", "gpu.container_runtime", "rdma.driver", "rdma.userland",
    "storage.nfs_client", "storage.glusterfs_client", "storage.cifs_client", "glusterfs.server",
}
BROKEN_RULES = {"docker.installed", "docker.socket", "ssh.port"}


def copy_sample(dest: Path, busybox: Path) -> Path:
    subprocess.run([str(SAMPLE / "copy-rootfs.sh"), str(dest)], check=True, env={**os.environ, "BUSYBOX": str(busybox)})
    return dest


@pytest.fixture(scope="module")
def sample_vhd(tmp_path_factory: pytest.TempPathFactory, busybox_binary: Path) -> Path:
    work = tmp_path_factory.mktemp("sample")
    return build_sample(copy_sample(work / "rootfs", busybox_binary), work / "sample.vhd")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, busybox_binary: Path) -> tuple[Path, str]:
    """The broken variant's image, and what break-rootfs.sh said it broke."""
    work = tmp_path_factory.mktemp("broken")
    root = copy_sample(work / "rootfs", busybox_binary)
    said = subprocess.run([str(SAMPLE / "break-rootfs.sh"), str(root)], check=True, capture_output=True, text=True)
    return build_sample(root, work / "broken.vhd"), said.stdout


def check(cli, vhd: Path) -> tuple[int, dict[str, dict[str, str]]]:
    result = cli("image", "check", vhd, "--configdir", CONFIG, "--raw")
    return result.code, {c["id"]: c for c in result.json()["checks"]}


def test_the_sample_passes_every_rule_that_applies_to_the_example_pool(cli, sample_vhd: Path) -> None:
    code, checks = check(cli, sample_vhd)
    assert code == 0
    assert set(checks) == set(RULE_IDS)
    assert {i for i, c in checks.items() if c["status"] == "skip"} == NOT_APPLICABLE
    # warnings and unknowns too: the sample is the reference, it passes outright
    assert {i: c["status"] for i, c in checks.items() if i not in NOT_APPLICABLE and c["status"] != "pass"} == {}
    assert cli("image", "check", sample_vhd, "--configdir", CONFIG, "--fail-level", "warning").code == 0
    assert sample_vhd.stat().st_size == SIZE + 512  # a fixed VHD: the disk, then its footer
    assert DEMO_BUILD_ARGS in (REPO / "demo" / "run.sh").read_text()  # built as the demo builds it


def test_the_broken_variant_fails_exactly_what_was_broken_each_with_a_fix(cli, broken: tuple[Path, str]) -> None:
    vhd, said = broken
    code, checks = check(cli, vhd)
    assert code == 1
    failed = {i: c for i, c in checks.items() if c["status"] == "fail"}
    assert set(failed) == BROKEN_RULES
    assert all(c["fix"] for c in failed.values())
    assert "2222" in failed["ssh.port"]["message"]
    assert said.splitlines() == [
        "broken: removed /usr/bin/dockerd (the docker engine; docker.service still points at it)",
        "broken: sshd moved to port 2222 (/etc/ssh/sshd_config.d/10-port.conf)",
    ]


def test_break_rootfs_refuses_the_sample_itself() -> None:
    result = subprocess.run([str(SAMPLE / "break-rootfs.sh"), str(ROOTFS)], capture_output=True, text=True)
    assert result.returncode == 2 and "refusing" in result.stderr
    assert (ROOTFS / "usr/bin/dockerd").is_file()
    assert not (ROOTFS / "etc/ssh/sshd_config.d/10-port.conf").exists()


def test_copy_rootfs_adds_the_mount_points_git_cannot_keep(tmp_path: Path, busybox_binary: Path) -> None:
    root = copy_sample(tmp_path / "rootfs", busybox_binary)
    for name in ("dev", "proc", "run", "sys", "mnt", "tmp"):
        assert (root / name).is_dir() and not any((root / name).iterdir())
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (root / "var/run").is_symlink() and (root / "var/run").resolve() == (root / "run").resolve()
    assert subprocess.run([str(SAMPLE / "copy-rootfs.sh"), str(root)], capture_output=True).returncode == 2


def test_copy_rootfs_installs_busybox_beside_the_samples_own_programs(tmp_path: Path, busybox_binary: Path) -> None:
    root = copy_sample(tmp_path / "rootfs", busybox_binary)
    assert (root / "usr/bin/busybox").read_bytes() == busybox_binary.read_bytes()
    for applet in ("sh", "cat", "echo", "ls", "ps", "grep"):
        assert os.readlink(root / "usr/bin" / applet) == "busybox", applet
    # the placeholders stay as they are in git
    for path in sample_paths():
        copied = root / path.relative_to(ROOTFS)
        if path.is_symlink():
            assert os.readlink(copied) == os.readlink(path), path
        else:
            assert copied.read_bytes() == path.read_bytes(), path
    added = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_symlink() or p.is_file()} - {
        str(p.relative_to(ROOTFS)) for p in sample_paths()}
    boot = {name for name in added if name.startswith(BOOT_CHAIN)}
    assert all(name.startswith("usr/bin/") and os.readlink(root / name) == "busybox"
               for name in added - boot - {"usr/bin/busybox"}), sorted(added)


BOOT_CHAIN = ("boot/", "usr/lib/modules/", "etc/fstab", "etc/default/grub")


def test_copy_rootfs_installs_a_real_boot_chain(tmp_path: Path, busybox_binary: Path) -> None:
    """install-boot.sh: Debian's cloud kernel, an initramfs that initramfs-tools' own lsinitramfs
    reads, with the Hyper-V drivers and what they need; GRUB's menu naming that kernel and the
    root by the UUID the demo builds it with; fstab by UUID."""
    root = copy_sample(tmp_path / "rootfs", busybox_binary)
    (kernel,) = (root / "boot").glob("vmlinuz-*")
    version = kernel.name.removeprefix("vmlinuz-")
    assert kernel.read_bytes()[0x202:0x206] == b"HdrS"  # a bzImage, not a placeholder
    if shutil.which("lsinitramfs"):
        listed = subprocess.run(["lsinitramfs", str(root / "boot" / f"initrd.img-{version}")], capture_output=True,
                                text=True, check=True).stdout.splitlines()
        modules = {Path(p).name.split(".ko")[0] for p in listed if ".ko" in p}
        assert {"hv_vmbus", "hv_storvsc", "hv_netvsc", "scsi_transport_fc"} <= modules
        assert "init" in listed and f"usr/lib/modules/{version}/modules.dep" in listed
    grub = (root / "boot/grub/grub.cfg").read_text()
    assert f"linux\t/boot/vmlinuz-{version} root=UUID={ROOT_UUID} ro console=tty0 console=ttyS0,115200n8" in grub
    assert (root / "etc/fstab").read_text().splitlines()[1:] == [
        f"UUID={ROOT_UUID} / ext4 rw,discard,errors=remount-ro 0 1", f"UUID={ESP_UUID} /boot/efi vfat umask=0077 0 1"]
    assert (root / "boot/efi/EFI/BOOT/BOOTX64.EFI").read_bytes()[:2] == b"MZ"  # GRUB's EFI loader, a PE image


def test_copy_rootfs_without_a_busybox_copies_nothing_and_says_apt_get_update(tmp_path: Path) -> None:
    result = subprocess.run([str(SAMPLE / "copy-rootfs.sh"), str(tmp_path / "rootfs")], capture_output=True,
                            text=True, env=no_apt_lists_env(tmp_path))
    assert result.returncode == 3 and "apt-get update" in result.stderr
    assert not (tmp_path / "rootfs").exists()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed (CI installs bubblewrap)")
def test_the_demo_jobs_os_release_task_runs_inside_the_sample(tmp_path: Path, busybox_binary: Path) -> None:
    """The task's command, run with the copy as its root: the sample's os-release, and the
    placeholders (#!/bin/sh scripts) run under busybox's sh."""
    root = copy_sample(tmp_path / "rootfs", busybox_binary)
    (job,) = load_config_set(ConfigPaths.resolve(CONFIG)).jobs or []
    (task,) = [t for t in job.tasks or [] if t.id == "os-release"]
    assert task.command
    run = ["bwrap", "--ro-bind", str(root), "/", "--proc", "/proc", "--dev", "/dev"]
    result = subprocess.run([*run, *shlex.split(task.command)], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, (ROOTFS / "etc/os-release").read_text()), result.stderr
    placeholders = subprocess.run([*run, "/bin/sh", "-c", "/usr/bin/docker && /usr/sbin/sshd && python3 && echo ran"],
                                  capture_output=True, text=True)
    assert placeholders.stdout == "ran\n", placeholders.stderr


def sample_paths() -> list[Path]:
    return sorted(p for p in ROOTFS.rglob("*") if p.is_symlink() or p.is_file())


def test_the_sample_is_small_plain_files_and_links() -> None:
    paths = sample_paths()
    assert sum(p.lstat().st_size for p in paths) + (SAMPLE / "README.md").stat().st_size < 100_000
    # git keeps no empty directory: the ones a root needs are made by copy-rootfs.sh
    assert [d for d in ROOTFS.rglob("*") if d.is_dir() and not d.is_symlink() and not any(d.iterdir())] == []
    wants = list((ROOTFS / "etc/systemd/system").glob("*.wants/*"))
    assert len(wants) == 6 and all(p.is_symlink() for p in wants)
    for binary in ("usr/bin/docker", "usr/bin/dockerd", "usr/sbin/sshd"):
        path = ROOTFS / binary
        assert path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o111


def test_git_keeps_the_links_as_links_and_the_binaries_executable() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-s", "--", "examples/sample-image/rootfs"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    if not listed:
        pytest.skip("the sample is not committed yet")
    modes = {line.split("\t")[1].removeprefix("examples/sample-image/rootfs/"): line.split()[0]
             for line in listed.splitlines()}
    assert modes["etc/systemd/system/multi-user.target.wants/docker.service"] == "120000"
    assert modes["bin"] == "120000"
    assert modes["usr/bin/dockerd"] == "100755"
    assert modes["etc/os-release"] == "100644"
    assert set(modes) == {str(p.relative_to(ROOTFS)) for p in sample_paths()}


def test_every_file_of_the_sample_is_in_its_readme() -> None:
    readme = (SAMPLE / "README.md").read_text()
    named = set(re.findall(r"`([^`\s]+)`", readme))
    globs = [n for n in named if "*" in n]
    missing = []
    for path in sample_paths():
        absolute = "/" + str(path.relative_to(ROOTFS))
        if absolute in named or path.name in named or any(Path(absolute).match(g) for g in globs):
            continue
        missing.append(absolute)
    assert missing == []


def test_the_example_config_needs_the_replica_and_is_valid_with_it(cli, tmp_path: Path) -> None:
    committed = cli("config", "check", "--configdir", CONFIG, "--raw")
    assert committed.code == 2
    assert [e["check"] for e in committed.json()["errors"]] == ["custom_image.vhd_count"]
    assert committed.json()["summary"]["vhds"] == {"given": 1, "required": 2, "nodes_per_vhd": 40}
    config = shutil.copytree(CONFIG, tmp_path / "config")
    set_custom_image(config / "pool.yaml", image_uris=["local://localstore1/vhds/sample.vhd",
                                                       "local://localstore2/vhds/sample.vhd"])
    replicated = cli("config", "check", "--configdir", config, "--raw")
    assert replicated.code == 0, replicated.out
    assert replicated.json()["warnings"] == []
    assert replicated.json()["summary"]["batch_backend"]["kind"] == "local"


def test_the_example_jobs_run_without_a_shell() -> None:
    """Tasks run as on Azure Batch: the command is split and executed, so it must start with a
    program; shell syntax goes through /bin/sh -c. The demo needs a sweep and a dependency."""
    config = load_config_set(ConfigPaths.resolve(CONFIG))
    assert config.errors == []  # load and schema errors (the config rules run in config check, above)
    (job,) = config.jobs or []
    tasks = job.tasks or []
    assert len(tasks) >= 3
    assert any(t.task_factory and t.task_factory.parametric_sweep for t in tasks)
    ids = {t.id for t in tasks if t.id}
    assert any(t.depends_on and set(t.depends_on) <= ids for t in tasks)
    for task in tasks:
        assert task.command
        program, *args = shlex.split(task.command)
        assert Path(program).is_absolute() and Path(program).exists(), task.command
        if program == "/bin/sh":
            assert args[0] == "-c" and len(args) == 2, task.command
        else:
            assert not set("$|&;<>`") & set(task.command), task.command


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_demo_and_the_sample_scripts_pass_shellcheck() -> None:
    result = subprocess.run(["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
