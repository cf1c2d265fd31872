"""Each rule as a table: a change to a realistic Ubuntu 22.04 tree (or image report) -> status.

The tree is read through the same collectors as an image or a live node, so the table also
proves that the facts each rule needs are really collected.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.trees import UBUNTU_KERNEL, UBUNTU_OLD_KERNEL, remove, write_executables, write_files, write_ubuntu_2204
from shipyard.facts import collect_facts
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence, ImageReport
from shipyard.image.azure import AzureProblem
from shipyard.results import CheckResult, Outcome, Severity, Status
from shipyard.rules.base import Rule
from shipyard.rules.engine import evaluate_rule, evaluate_rules
from shipyard.rules.registry import RULES
from shipyard.sources import DirectorySource

Mutation = Callable[[Path], object]


def nothing(root: Path) -> None:
    return None


def daemon_json(**settings: object) -> Mutation:
    def mutate(root: Path) -> None:
        write_files(root, {"/etc/docker/daemon.json": json.dumps(settings)})

    return mutate


def unlink_wants(*units: str) -> Mutation:
    def mutate(root: Path) -> None:
        for unit in units:
            for target in ("multi-user.target", "sockets.target"):
                path = root / f"etc/systemd/system/{target}.wants/{unit}"
                if path.is_symlink():
                    path.unlink()

    return mutate


def drop_lines(root: Path, path: str, word: str) -> None:
    target = root / path.lstrip("/")
    target.write_text("".join(line for line in target.read_text().splitlines(True) if word not in line))


def drop_dpkg(root: Path, prefix: str) -> None:
    status = root / "var/lib/dpkg/status"
    stanzas = status.read_text().split("\n\n")
    status.write_text("\n\n".join(s for s in stanzas if not s.lstrip().startswith(f"Package: {prefix}")))


def chain(*mutations: Mutation) -> Mutation:
    def mutate(root: Path) -> None:
        for m in mutations:
            m(root)

    return mutate


UFW_DENY_ALL = "*filter\n:ufw-user-input - [0:0]\n:ufw-user-output - [0:0]\nCOMMIT\n"
GPU = {"vm_size": "Standard_NC24ads_A100_v4"}
HB = {"vm_size": "Standard_HB120rs_v3"}
H16R = {"vm_size": "Standard_H16r"}
D2 = {"vm_size": "Standard_D2s_v5"}
RDMA_USERLAND = lambda root: write_executables(root, "/usr/bin/ibv_devinfo", "/usr/bin/ofed_info")  # noqa: E731
RDMA_PACKAGES = lambda root: write_files(root, {"/var/lib/dpkg/status": (root / "var/lib/dpkg/status").read_text()  # noqa: E731
    + "\nPackage: rdma-core\nStatus: install ok installed\nArchitecture: amd64\nVersion: 39.0-1\n"})

TYPO = {"vm_size": "Standard_NC6sv3"}  # Standard_NC6s_v3 mistyped
NO_KERNEL = lambda root: remove(root, "/usr/lib/modules", "/boot")  # noqa: E731
NO_BOOT_KERNELS = lambda root: remove(root, f"/boot/vmlinuz-{UBUNTU_KERNEL}", f"/boot/vmlinuz-{UBUNTU_OLD_KERNEL}")  # noqa: E731
NVIDIA_DRIVER_PACKAGE = lambda root: write_files(root, {"/var/lib/dpkg/status": (root / "var/lib/dpkg/status").read_text()  # noqa: E731
    + "\nPackage: nvidia-driver-535-server\nStatus: install ok installed\nArchitecture: amd64\nVersion: 535.161.08-0ubuntu2\n"})

CASES: list[tuple[str, Mutation, dict, Status]] = [
    ("os.detected", nothing, {}, Status.PASS),
    ("os.detected", lambda r: remove(r, "/etc/os-release", "/etc/lsb-release", "/etc/debian_version"), {}, Status.FAIL),
    ("os.node_agent", nothing, {"node_agent": "batch.node.ubuntu 22.04"}, Status.PASS),
    ("os.node_agent", nothing, {"node_agent": "batch.node.ubuntu 20.04"}, Status.FAIL),
    ("os.node_agent", nothing, {"node_agent": "batch.node.nonsense"}, Status.FAIL),
    ("os.node_agent", nothing, {}, Status.SKIP),
    ("os.node_agent", lambda r: remove(r, "/etc/os-release", "/etc/lsb-release", "/etc/debian_version"),
     {"node_agent": "batch.node.ubuntu 22.04"}, Status.UNKNOWN),
    ("docker.installed", nothing, {}, Status.PASS),
    ("docker.installed", lambda r: remove(r, "/usr/bin/dockerd"), {}, Status.FAIL),
    ("docker.enabled", nothing, {}, Status.PASS),
    ("docker.enabled", unlink_wants("docker.service", "docker.socket", "containerd.service"), {}, Status.FAIL),
    ("docker.enabled", lambda r: (r / "etc/systemd/system/docker.service").symlink_to("/dev/null"), {}, Status.FAIL),
    ("docker.socket", nothing, {}, Status.PASS),
    ("docker.socket", daemon_json(hosts=["tcp://0.0.0.0:2375"]), {}, Status.FAIL),
    ("docker.socket", lambda r: remove(r, "/usr/bin/dockerd"), {}, Status.FAIL),
    ("ssh.installed", nothing, {}, Status.PASS),
    ("ssh.installed", lambda r: remove(r, "/usr/sbin/sshd"), {}, Status.FAIL),
    ("ssh.enabled", nothing, {}, Status.PASS),
    ("ssh.enabled", unlink_wants("ssh.service", "ssh.socket"), {}, Status.FAIL),
    ("ssh.port", nothing, {}, Status.PASS),
    ("ssh.port", lambda r: write_files(r, {"/etc/ssh/sshd_config.d/10-port.conf": "Port 2222\n"}), {}, Status.FAIL),
    ("gpu.driver", nothing, GPU, Status.PASS),
    ("gpu.driver", nothing, D2, Status.SKIP),
    ("gpu.driver", nothing, {}, Status.SKIP),
    ("gpu.driver", lambda r: write_files(r, {"/etc/modprobe.d/no-nvidia.conf": "blacklist nvidia\n"}), GPU, Status.FAIL),
    ("gpu.driver", lambda r: (remove(r, "/usr/lib/modules/5.15.0-1053-azure/updates"), drop_lines(
        r, "/usr/lib/modules/5.15.0-1053-azure/modules.dep", "nvidia")), GPU, Status.FAIL),
    ("gpu.container_runtime", nothing, GPU, Status.PASS),
    ("gpu.container_runtime", daemon_json(), GPU, Status.FAIL),
    ("gpu.container_runtime", lambda r: (remove(r, "/usr/bin/nvidia-container-cli"), drop_dpkg(r, "nvidia")),
     GPU, Status.FAIL),
    ("gpu.container_runtime", nothing, D2, Status.SKIP),
    ("rdma.driver", nothing, HB, Status.PASS),
    ("rdma.driver", lambda r: remove(r, "/usr/lib/modules/5.15.0-1053-azure/modules.dep",
                                     "/usr/lib/modules/5.15.0-1053-azure/kernel"), HB, Status.FAIL),
    ("rdma.driver", nothing, H16R, Status.FAIL),
    ("rdma.driver", lambda r: write_files(r, {"/etc/waagent.conf": "OS.EnableRDMA=y\n"}), H16R, Status.PASS),
    ("rdma.driver", nothing, D2, Status.SKIP),
    ("rdma.userland", chain(RDMA_USERLAND, RDMA_PACKAGES), HB, Status.PASS),
    ("rdma.userland", nothing, HB, Status.FAIL),
    ("rdma.userland", nothing, D2, Status.SKIP),
    ("storage.nfs_client", nothing, {"storage_cluster_types": frozenset({"nfs"})}, Status.PASS),
    ("storage.nfs_client", lambda r: remove(r, "/usr/sbin/mount.nfs4"), {"storage_cluster_types": frozenset({"nfs"})}, Status.FAIL),
    ("storage.nfs_client", nothing, {}, Status.SKIP),
    ("storage.glusterfs_client", nothing, {"storage_cluster_types": frozenset({"glusterfs"})}, Status.FAIL),
    ("storage.glusterfs_client", lambda r: write_executables(r, "/usr/sbin/glusterfs"),
     {"storage_cluster_types": frozenset({"glusterfs"})}, Status.PASS),
    ("storage.glusterfs_client", nothing, {}, Status.SKIP),
    ("storage.glusterfs_client", nothing, {"storage_cluster_types": frozenset({"unknown"})}, Status.UNKNOWN),
    ("storage.nfs_client", nothing, {"storage_cluster_types": frozenset({"unknown"})}, Status.PASS),
    ("storage.cifs_client", nothing, {"azure_file": True}, Status.FAIL),
    ("storage.cifs_client", lambda r: write_executables(r, "/usr/sbin/mount.cifs"), {"azure_file": True}, Status.PASS),
    ("storage.cifs_client", nothing, {}, Status.SKIP),
    ("glusterfs.server", nothing, {"glusterfs_on_compute": True}, Status.FAIL),
    ("glusterfs.server", lambda r: write_executables(r, "/usr/sbin/glusterd", "/usr/sbin/gluster", "/usr/sbin/glusterfs"),
     {"glusterfs_on_compute": True}, Status.PASS),
    ("glusterfs.server", nothing, {}, Status.SKIP),
    ("net.inbound", nothing, {}, Status.PASS),
    ("net.inbound", lambda r: write_files(r, {"/etc/ufw/user.rules": UFW_DENY_ALL}), {}, Status.FAIL),
    ("net.inbound", lambda r: write_files(r, {"/etc/ufw/user.rules": UFW_DENY_ALL}),
     {"node_communication_mode": "simplified", "ssh": False}, Status.SKIP),
    ("net.outbound", nothing, {}, Status.PASS),
    ("net.outbound", lambda r: write_files(r, {"/etc/default/ufw": 'DEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="DROP"\n'}),
     {}, Status.FAIL),
    ("disk.resource_mount", daemon_json(**{"data-root": "/mnt/docker"}), {}, Status.PASS),
    ("disk.resource_mount", nothing, {}, Status.PASS),  # a stock image: /mnt, whatever docker's data-root
    ("disk.resource_mount", lambda r: write_files(r, {"/etc/waagent.conf": "ResourceDisk.Format=y\nResourceDisk.MountPoint=/data\n"}),
     {}, Status.FAIL),
    ("docker.data_root", daemon_json(**{"data-root": "/mnt/docker"}), {}, Status.PASS),
    ("docker.data_root", nothing, {}, Status.WARN),  # /var/lib/docker: on the OS disk
    ("docker.data_root", lambda r: remove(r, "/etc/docker/daemon.json", "/usr/bin/dockerd", "/usr/bin/docker"), {},
     Status.SKIP),
    ("vm.size_known", nothing, {"vm_size": "Standard_NC6s_v3"}, Status.PASS),
    ("vm.size_known", nothing, {"vm_size": "standard_d2_V2"}, Status.PASS),
    ("vm.size_known", nothing, {"vm_size": "Standard_NC6sv3"}, Status.WARN),
    ("vm.size_known", nothing, {}, Status.SKIP),
    # the boot chain: Ubuntu's grub.cfg, linux-azure with the Hyper-V drivers built in
    ("boot.kernel", nothing, {}, Status.PASS),
    ("boot.kernel", NO_BOOT_KERNELS, {}, Status.FAIL),
    ("boot.kernel", lambda r: remove(r, f"/boot/vmlinuz-{UBUNTU_KERNEL}"), {}, Status.FAIL),  # grub's default is gone
    ("boot.kernel", lambda r: remove(r, "/boot/grub/grub.cfg"), {}, Status.FAIL),  # no bootloader at all
    ("boot.hyperv_drivers", nothing, {}, Status.PASS),
    ("boot.hyperv_drivers", lambda r: drop_lines(r, f"/usr/lib/modules/{UBUNTU_KERNEL}/modules.builtin", "hv_storvsc"),
     {}, Status.FAIL),  # not built in, and no initramfs
    ("boot.hyperv_drivers", lambda r: write_files(r, {f"/boot/initrd.img-{UBUNTU_KERNEL}": b"\x89LZO\0\r\n"})
     and drop_lines(r, f"/usr/lib/modules/{UBUNTU_KERNEL}/modules.builtin", "hv_storvsc"), {}, Status.UNKNOWN),
    ("boot.hyperv_drivers", NO_BOOT_KERNELS, {}, Status.UNKNOWN),
    ("boot.console", nothing, {}, Status.PASS),
    ("boot.console", lambda r: (r / "boot/grub/grub.cfg").write_text(
        (r / "boot/grub/grub.cfg").read_text().replace(" console=ttyS0", " quiet splash")), {}, Status.WARN),
    ("boot.console", lambda r: remove(r, "/boot/grub/grub.cfg", "/etc/default/grub.d"), {}, Status.UNKNOWN),
    ("boot.generation", nothing, {}, Status.SKIP),  # a root directory has no partition table (tests/rules/test_boot_rules.py)
    ("boot.fstab", lambda r: remove(r, "/etc/fstab"), {}, Status.PASS),
    ("boot.fstab", lambda r: write_files(r, {"/etc/fstab": "/swap.img none swap sw 0 0\n"}), {}, Status.FAIL),
    ("boot.fstab", nothing, {}, Status.UNKNOWN),  # LABEL=rootfs: a directory has no volumes to look in
    ("disk.os_swap", nothing, {}, Status.PASS),
    ("disk.os_swap", lambda r: write_files(r, {"/etc/fstab": "/swap.img none swap sw 0 0\n", "/swap.img": b"\0" * 4096}),
     {}, Status.WARN),
    ("provision.agent", nothing, {}, Status.PASS),  # waagent, Provisioning.Agent=auto, no cloud-init binary
    ("provision.agent", lambda r: remove(r, "/usr/sbin/waagent"), {}, Status.FAIL),
    ("provision.agent", lambda r: write_files(r, {"/etc/waagent.conf": "Provisioning.Agent=cloud-init\n"}), {}, Status.FAIL),
    ("provision.agent", lambda r: remove(r, "/etc/systemd/system/multi-user.target.wants/walinuxagent.service"), {},
     Status.FAIL),
    ("provision.generalized", nothing, {}, Status.PASS),
    ("provision.generalized", lambda r: write_files(r, {"/etc/machine-id": "4f2b0c7e9a7d4d6f9b0b5a1f3c2e1d00\n"}), {},
     Status.WARN),
    ("provision.generalized", lambda r: write_files(r, {"/etc/ssh/ssh_host_rsa_key": "k"}), {}, Status.WARN),
    # a size not in the catalogue: the size-dependent rules cannot say, so they are unknown, not skipped
    ("gpu.driver", nothing, TYPO, Status.UNKNOWN),
    ("gpu.container_runtime", nothing, TYPO, Status.UNKNOWN),
    ("rdma.driver", nothing, TYPO, Status.UNKNOWN),
    ("rdma.userland", nothing, TYPO, Status.UNKNOWN),
    # no kernel, no NVIDIA driver package, no nvidia-smi: no driver at all
    ("gpu.driver", NO_KERNEL, GPU, Status.FAIL),
    ("gpu.driver", NO_KERNEL, {"vm_size": "Standard_NC6s_v3"}, Status.FAIL),
    # no kernel, but a driver package: whether a module will exist for the kernel cannot be decided
    ("gpu.driver", chain(NO_KERNEL, NVIDIA_DRIVER_PACKAGE), GPU, Status.UNKNOWN),
    # a module for an older kernel only, no package: the boot kernel has none
    ("gpu.driver", lambda r: remove(r, f"/usr/lib/modules/{UBUNTU_KERNEL}"), GPU, Status.FAIL),
]


@pytest.fixture(scope="module")
def ubuntu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ubuntu_2204(tmp_path_factory.mktemp("tree") / "root")


def ctx(**pool: object) -> PoolContext:
    """A pool context as the CLI builds it: features derived from --vm-size / --node-agent."""
    from dataclasses import replace

    base = PoolContext.from_config(None, vm_size=pool.pop("vm_size", None), node_agent=pool.pop("node_agent", None))
    return replace(base, **pool)


def rule(rule_id: str):
    return next(r for r in RULES if r.id == rule_id)


def evaluate_one(rule: Rule[Evidence], evidence: Evidence, pool: PoolContext) -> CheckResult:
    """The result of an image or node rule: exactly one (it returns one outcome)."""
    [result] = evaluate_rule(rule, evidence, pool)
    return result


@pytest.mark.parametrize(("rule_id", "mutate", "pool", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_table(tmp_path: Path, ubuntu: Path, rule_id: str, mutate: Mutation, pool: dict, expected: Status) -> None:
    root = tmp_path / "root"
    shutil.copytree(ubuntu, root, symlinks=True)
    mutate(root)
    evidence = Evidence(facts=collect_facts(DirectorySource(root), strict=True))
    result = evaluate_one(rule(rule_id), evidence, ctx(**pool))
    assert result.status is expected, result.message
    assert result.message


FORMAT_CASES = [
    ("vhd.format", (), Status.PASS),
    ("vhd.format", (AzureProblem("vhd.format", "a dynamic VHD", "a fixed VHD", "convert"),), Status.FAIL),
    ("vhd.alignment", (), Status.PASS),
    ("vhd.alignment", (AzureProblem("vhd.alignment", "size 1000 bytes", "a multiple of 1 MiB", "convert"),), Status.FAIL),
    ("vhd.footer", (), Status.PASS),
    ("vhd.footer", (AzureProblem("vhd.footer", "bad checksum", "a valid checksum", "convert"),), Status.FAIL),
    ("vhd.size", (), Status.PASS),
    ("vhd.size", (AzureProblem("vhd.size", "too small", "at least 20 MiB", "resize"),), Status.FAIL),
]


@pytest.mark.parametrize(("rule_id", "problems", "expected"), FORMAT_CASES)
def test_format_rules(rule_id: str, problems: tuple, expected: Status) -> None:
    from shipyard.facts.model import Facts

    evidence = Evidence(facts=Facts(), image=ImageReport("vhd-fixed", problems))
    assert evaluate_one(rule(rule_id), evidence, PoolContext()).status is expected
    live = Evidence(facts=Facts())
    assert evaluate_one(rule(rule_id), live, PoolContext()).status is Status.SKIP


def test_every_rule_has_id_fix_and_pass_and_fail_cases() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert r.fix and r.requirement, r.id
        assert r.id.count(".") == 1 and r.id == r.id.lower()
    cases = [(c[0], c[3]) for c in CASES] + [(c[0], c[2]) for c in FORMAT_CASES]
    for r in RULES:
        if r.severity is Severity.INFO:  # reports, never fails: its cases are in tests/rules/test_boot_rules.py
            continue
        failing = Status.FAIL if r.severity is Severity.ERROR else Status.WARN
        assert (r.id, Status.PASS) in cases, f"{r.id} has no passing case"
        assert (r.id, failing) in cases, f"{r.id} has no failing case"


def consistent(result: CheckResult, rule_severity: Severity) -> bool:
    """A result's severity says how much its status weighs: fail is an error, warn and unknown are
    warnings (what ``--fail-level warning`` adds), pass and skip carry the rule's own severity."""
    if result.status is Status.FAIL:
        return result.severity is Severity.ERROR and rule_severity is Severity.ERROR
    if result.status in (Status.WARN, Status.UNKNOWN):
        return result.severity is Severity.WARNING
    return result.severity is rule_severity


@pytest.mark.parametrize(("rule_id", "mutate", "pool", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_result_in_the_table_has_a_severity_that_agrees_with_its_status(
    tmp_path: Path, ubuntu: Path, rule_id: str, mutate: Mutation, pool: dict, expected: Status
) -> None:
    root = tmp_path / "root"
    shutil.copytree(ubuntu, root, symlinks=True)
    mutate(root)
    evidence = Evidence(facts=collect_facts(DirectorySource(root), strict=True))
    for result in evaluate_rules(RULES, evidence, ctx(**pool)):
        assert consistent(result, rule(result.id).severity), result.as_dict()
        assert result.fails_at(Severity.WARNING) is (result.status in (Status.FAIL, Status.WARN, Status.UNKNOWN))
        assert result.fails_at(Severity.ERROR) is (result.status is Status.FAIL)


def test_a_warning_level_failure_is_a_warn_with_warning_severity() -> None:
    from dataclasses import replace

    from shipyard.facts.model import Facts

    strict = replace(rule("docker.installed"), severity=Severity.WARNING)
    result = evaluate_one(strict, Evidence(facts=Facts()), PoolContext())
    assert (result.status, result.severity) == (Status.UNKNOWN, Severity.WARNING)
    failing = replace(strict, evaluate=lambda e, p: Outcome.bad("found nothing"))
    result = evaluate_one(failing, Evidence(facts=Facts()), PoolContext())
    assert (result.status, result.severity) == (Status.WARN, Severity.WARNING)
    assert result.as_dict()["severity"] == "warning"
    caveat = replace(rule("docker.installed"), evaluate=lambda e, p: Outcome.warn("passed, with a caveat"))
    result = evaluate_one(caveat, Evidence(facts=Facts()), PoolContext())
    assert (result.status, result.severity) == (Status.WARN, Severity.WARNING)
    with pytest.raises(ValueError, match="severity"):
        CheckResult("x.y", Status.WARN, Severity.ERROR, "found", "fix")


def test_unknown_vm_size_names_the_closest_known_sizes(ubuntu: Path) -> None:
    evidence = Evidence(facts=collect_facts(DirectorySource(ubuntu), strict=True))
    result = evaluate_one(rule("vm.size_known"), evidence, ctx(**TYPO))
    assert "Standard_NC6sv3 is not a known Azure VM size" in result.message
    assert "Standard_NC6s_v3" in result.message.split("closest:")[1]
    gpu = evaluate_one(rule("gpu.driver"), evidence, ctx(**TYPO))
    assert "Standard_NC6sv3" in gpu.message and "not a known VM size" in gpu.message


def test_no_driver_at_all_names_all_three_absences(tmp_path: Path, ubuntu: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(ubuntu, root, symlinks=True)
    NO_KERNEL(root)
    result = evaluate_one(rule("gpu.driver"), Evidence(facts=collect_facts(DirectorySource(root), strict=True)), ctx(**GPU))
    assert result.status is Status.FAIL
    assert "no kernel" in result.message and "no NVIDIA driver package" in result.message
    assert "nvidia-smi" in result.message


def test_unknown_facts_are_unknown_never_pass() -> None:
    from shipyard.facts.model import Facts

    results = evaluate_rules(RULES, Evidence(facts=Facts(os=None)), ctx(**GPU, node_agent="batch.node.ubuntu 22.04"))
    by_id = {r.id: r.status for r in results}
    assert by_id["os.detected"] is Status.FAIL
    for rule_id in ("docker.installed", "docker.enabled", "ssh.port", "gpu.driver", "net.inbound", "disk.resource_mount"):
        assert by_id[rule_id] is Status.UNKNOWN, rule_id
    assert all(r.fails_at(Severity.WARNING) for r in results if r.status is Status.UNKNOWN)
    assert not any(r.fails_at(Severity.ERROR) for r in results if r.status is Status.UNKNOWN)


def test_a_rule_that_raises_becomes_an_error_naming_it() -> None:
    from dataclasses import replace

    from shipyard.facts.model import Facts

    def explode(evidence, pool):
        raise KeyError("boom")

    broken = replace(rule("docker.installed"), evaluate=explode)
    rules = [rule("os.detected"), broken, rule("ssh.port")]
    results = evaluate_rules(rules, Evidence(facts=Facts()), PoolContext())
    assert [r.id for r in results] == ["os.detected", "docker.installed", "ssh.port"]
    assert results[1].status is Status.FAIL and "rule docker.installed raised KeyError" in results[1].message


def test_skip_ids_report_skip() -> None:
    from shipyard.facts.model import Facts

    results = evaluate_rules(RULES, Evidence(facts=Facts()), PoolContext(), skip=["os.detected"])
    assert results[[r.id for r in RULES].index("os.detected")].status is Status.SKIP


def test_docker_started_by_its_socket_says_which_link_starts_it(tmp_path: Path) -> None:
    root = write_ubuntu_2204(tmp_path / "root")
    unlink_wants("docker.service")(root)  # only docker.socket is enabled: socket activation starts dockerd
    evidence = Evidence(facts=collect_facts(DirectorySource(root)))
    result = evaluate_one(rule("docker.enabled"), evidence, ctx())
    assert result.status is Status.PASS
    assert result.message == "docker starts on boot (via sockets.target.wants)"
