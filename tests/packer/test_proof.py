"""The proof that the Packer templates' provisioning makes an image `image check` passes: the base
variant's scripts, run for real in a Debian 12 root that debootstrap made, then `image build`,
then every base rule.

Debian 12 stands in for the Marketplace image a Packer build starts from (its mirror is reachable
here; Azure's Marketplace is not). What a Marketplace image already has is in the debootstrap
package list: systemd, Debian's cloud kernel (with its initramfs, made by initramfs-tools in the
root), the Azure Linux agent (`waagent`) with cloud-init (Debian's agent hands provisioning to it),
python3 and ufw; and, since no bootloader can be installed into a
directory, a GRUB menu for that kernel as grub-mkconfig writes it. Then the scripts run in the root
(bubblewrap, as root, its own /proc, /dev and /run; services do not start: policy-rc.d), exactly
as the template runs them: ``base.sh`` with classic node communication (the local backend's
default, which also opens 29876-29877), then ``deprovision.sh``.

``os.node_agent`` is skipped (``--skip-check``): Batch retired Debian's node agents, and the
node agent the pool names is the base's (Ubuntu, AlmaLinux), not Debian's.

Slow (minutes the first time): the debootstrap root is cached under ``.cache/`` by its package list,
the provisioned root beside it by the scripts' contents too; runs with SHIPYARD_SLOW=1, as .ci/run
sets it. Needs root and the mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "src" / "shipyard" / "packer" / "scripts"
CACHE = REPO / ".cache"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "linux-image-cloud-amd64", "waagent", "ufw", "ca-certificates",
                 "iproute2", "ifupdown", "python3")
AFTER_PACKAGES = ("cloud-init",)  # apt in the root: debootstrap's own configuring order cannot take it
ROOT_UUID = "6a0e4d52-5b1d-4c1e-9d4e-0b7a1f2c3d4f"
ESP_UUID = "1A2B-3C4D"
CHECK_FILES = {"pool.yaml": """
pool_specification:
  id: proof
  vm_configuration:
    custom_image:
      image_uris: [local://acct1/vhds/proof.vhd]
      node_agent: batch.node.ubuntu 22.04
  vm_size: STANDARD_D2S_V3
  vm_count: {dedicated: 1, low_priority: 0}
  ssh: {username: shipyard}
  node_communication_mode: classic
""", "config.yaml": """
batch_shipyard:
  storage_account_settings: mystorage
global_resources:
  volumes:
    shared_data_volumes:
      cluster:  # a storage cluster of a type fs.yaml does not say: both the NFS and GlusterFS clients
        volume_driver: storage_cluster
        container_path: /mnt/cluster
      share:  # an Azure File share: the CIFS client
        volume_driver: azurefile
        storage_account_settings: mystorage
        azure_file_share_name: data
        container_path: /mnt/share
"""}

pytestmark = pytest.mark.slow


def _needs_root_and_debootstrap() -> None:
    if os.geteuid() != 0:
        pytest.skip("the proof runs debootstrap and the scripts as root (CI does)")
    for tool in ("debootstrap", "bwrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install {tool})")


def _run_in(root: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``argv`` in ``root`` as root: the scripts bound at /tmp/shipyard, the host's DNS, its own /proc and /dev."""
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text(Path("/etc/resolv.conf").read_text())
    (root / "tmp/shipyard").mkdir(parents=True, exist_ok=True)
    bwrap = ["bwrap", "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/run",
             "--ro-bind", str(SCRIPTS), "/tmp/shipyard", "--die-with-parent", "--unshare-pid",
             "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    for name, value in (env or {}).items():
        bwrap += ["--setenv", name, value]
    return subprocess.run([*bwrap, *argv], capture_output=True, text=True, check=False, timeout=1800)


def _debootstrap(target: Path) -> None:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(target), MIRROR]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise AssertionError(f"debootstrap failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    with _no_services(target):
        done = _run_in(target, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *AFTER_PACKAGES,
                       env={"DEBIAN_FRONTEND": "noninteractive"})
    assert done.returncode == 0, f"apt-get install {' '.join(AFTER_PACKAGES)} failed: {done.stderr[-3000:]}"
    (target / "etc/resolv.conf").unlink(missing_ok=True)


@contextlib.contextmanager
def _no_services(root: Path) -> Iterator[None]:
    """No service starts while packages install (Debian's policy-rc.d)."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def _boot_config(root: Path) -> None:
    """GRUB's menu for the root's kernel, as grub-mkconfig writes it, and the fstab: what the
    Marketplace image's bootloader and installer left (no bootloader installs into a directory)."""
    kernels = sorted(p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*"))
    assert kernels, "the cloud kernel was not installed"
    version = kernels[-1]
    cmdline = "console=tty0 console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300"
    (root / "etc/default").mkdir(parents=True, exist_ok=True)
    (root / "etc/default/grub").write_text(f'GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX="{cmdline}"\n'
                                           'GRUB_TERMINAL="console serial"\n')
    (root / "boot/grub").mkdir(parents=True, exist_ok=True)
    (root / "boot/grub/grub.cfg").write_text(
        "### BEGIN /etc/grub.d/10_linux ###\n"
        f"menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-{ROOT_UUID}' {{\n"
        f"\tsearch --no-floppy --fs-uuid --set=root {ROOT_UUID}\n"
        f"\tlinux\t/boot/vmlinuz-{version} root=UUID={ROOT_UUID} ro {cmdline}\n"
        f"\tinitrd\t/boot/initrd.img-{version}\n}}\n### END /etc/grub.d/10_linux ###\n")
    (root / "boot/efi").mkdir(parents=True, exist_ok=True)
    (root / "etc/fstab").write_text(f"UUID={ROOT_UUID} / ext4 defaults,discard 0 1\n"
                                    f"UUID={ESP_UUID} /boot/efi vfat defaults,nofail 0 2\n")


def _provision(root: Path) -> str:
    """The base variant, as the template runs it: base.sh, then deprovision.sh. Services never start."""
    log = []
    with _no_services(root):
        for script, env in (("base.sh", {"SHIPYARD_NODE_COMMUNICATION": "classic"}), ("deprovision.sh", {})):
            done = _run_in(root, "bash", f"/tmp/shipyard/{script}", env=env)
            log.append(done.stdout + done.stderr)
            assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return "\n".join(log)


def _cached(name: str, make: Callable[[Path], None]) -> Path:
    """``.cache/NAME/root``, made once by ``make`` (aside, then renamed: never half made)."""
    cached = CACHE / name
    if (cached / "root/etc/os-release").exists():
        return cached / "root"
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=CACHE))
    try:
        make(work / "root")
        os.replace(work, cached)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return cached / "root"


@pytest.fixture(scope="module")
def proof_root() -> Path:
    """Debian 12 with the base variant provisioned, built once per package list and scripts (cached)."""
    _needs_root_and_debootstrap()
    packages = hashlib.sha256(" ".join((SUITE, MIRROR, *BASE_PACKAGES)).encode())
    base = _cached(f"packer-proof-base-{packages.hexdigest()[:12]}", _debootstrap)
    for script in sorted(SCRIPTS.glob("*.sh")):
        packages.update(script.name.encode() + script.read_bytes())

    def provisioned(root: Path) -> None:
        subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
        _boot_config(root)
        (root.parent / "provision.log").write_text(_provision(root))
        (root / "etc/resolv.conf").unlink(missing_ok=True)

    return _cached(f"packer-proof-{packages.hexdigest()[:12]}", provisioned)


def test_the_base_variant_passes_every_base_rule(proof_root: Path, tmp_path: Path, cli) -> None:
    vhd = tmp_path / "proof.vhd"
    built = cli("image", "build", proof_root, vhd, "--table", "gpt", "--esp", "64M", "--uuid", ROOT_UUID,
                "--esp-uuid", ESP_UUID, "--raw")
    assert built.code == 0, built.err
    configdir = tmp_path / "config"
    configdir.mkdir()
    for name, text in CHECK_FILES.items():
        (configdir / name).write_text(text.lstrip())
    checked = cli("image", "check", vhd, "--configdir", configdir, "--skip-check", "os.node_agent", "--raw")
    report = json.loads(checked.out)
    results = {c["id"]: c for c in report["checks"]}
    failing = {k: c["message"] for k, c in results.items() if c["status"] in ("fail", "warn", "unknown")}
    assert checked.code == 0 and failing == {}, failing
    assert results["os.node_agent"]["status"] == "skip"  # Debian's node agents are retired: see the docstring
    for rule in ("docker.installed", "docker.enabled", "docker.socket", "ssh.installed", "ssh.enabled", "ssh.port",
                 "storage.nfs_client", "storage.glusterfs_client", "storage.cifs_client", "net.inbound",
                 "net.outbound", "provision.agent", "provision.generalized", "boot.kernel", "boot.hyperv_drivers"):
        assert results[rule]["status"] == "pass", (rule, results[rule]["message"])
    assert "ufw" in results["net.inbound"]["message"]  # the firewall the script opened, not an absent one
    assert results["docker.data_root"]["status"] == "pass"  # on the resource disk the agent mounts


def test_the_rdma_variant_passes_the_rdma_rules(proof_root: Path, tmp_path: Path, cli) -> None:
    """rdma.sh on a copy of the base root (Debian packages the InfiniBand stack too), for a Network
    Direct RDMA size (H16r). The SR-IOV sizes' NVIDIA OFED comes from linux.mellanox.com, which the
    test machines cannot reach: that path is checked by shellcheck and the template tests only."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(proof_root), str(root)], check=True)
    with _no_services(root):
        done = _run_in(root, "bash", "/tmp/shipyard/rdma.sh", env={"SHIPYARD_RDMA_OFED": "no"})
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OS.EnableRDMA=y" in (root / "etc/waagent.conf").read_text().splitlines()
    vhd = tmp_path / "rdma.vhd"
    built = cli("image", "build", root, vhd, "--table", "gpt", "--esp", "64M", "--uuid", ROOT_UUID,
                "--esp-uuid", ESP_UUID, "--raw")
    assert built.code == 0, built.err
    configdir = tmp_path / "config"
    configdir.mkdir()
    (configdir / "pool.yaml").write_text(CHECK_FILES["pool.yaml"].lstrip().replace("STANDARD_D2S_V3", "Standard_H16r"))
    checked = cli("image", "check", vhd, "--configdir", configdir, "--skip-check", "os.node_agent", "--raw")
    results = {c["id"]: c for c in json.loads(checked.out)["checks"]}
    for rule in ("rdma.driver", "rdma.userland"):
        assert results[rule]["status"] == "pass", (rule, results[rule]["message"])
    assert checked.code == 0, {k: c["message"] for k, c in results.items() if c["status"] == "fail"}


def test_a_second_run_changes_nothing(proof_root: Path, tmp_path: Path) -> None:
    """Idempotent: base.sh again on a hard-link copy leaves every file as it was (but apt's caches)."""
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(proof_root), str(copy)], check=True)
    before = _tree_digest(copy)
    with _no_services(copy):
        done = _run_in(copy, "bash", "/tmp/shipyard/base.sh", env={"SHIPYARD_NODE_COMMUNICATION": "classic"})
    (copy / "etc/resolv.conf").unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _tree_digest(copy) == before


IGNORED = ("var/lib/apt/lists", "var/cache", "var/log", "tmp", "etc/resolv.conf", "var/lib/dpkg/lock",
           "var/lib/apt/extended_states", "var/lib/systemd/deb-systemd-helper-enabled")


def _tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(relative == p or relative.startswith(p + "/") for p in IGNORED) or relative.endswith("-old"):
            continue
        if path.is_symlink():
            out[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
