"""Enablement at boot against systemd's own answer, on a real Debian tree built by debootstrap.

The oracle is the tree's own ``systemctl --root=/ is-enabled UNIT`` (systemd 252 on bookworm),
run in a chroot of the tree, for every native unit file. At first boot (``/etc/machine-id``
missing or ``uninitialized``; machine-id(5)) systemd applies the presets before the boot
transaction (``preset-all --preset-mode=enable-only``), so there the oracle is run on a copy
after that command. An empty ``/etc/machine-id`` is not a first boot: presets do not apply.

The tree is built once (about a minute; needs root and the Debian mirror) and cached under
``.cache/`` in the repository, keyed by the package list; variants are hard-link copies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from shipyard.facts.collectors.systemd import collect_services
from shipyard.facts.model import ServiceFacts
from shipyard.sources.directory import DirectorySource

DEBOOTSTRAP = "/usr/sbin/debootstrap"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "openssh-server", "dbus", "cron")
CACHE = Path(__file__).resolve().parents[2] / ".cache"
REAL_ID = "0123456789abcdef0123456789abcdef\n"
# is-enabled states that say whether the unit's [Install] links exist; the others (static,
# indirect, alias, generated) are decided by dependencies, which is-enabled does not follow
DECIDED = {"enabled": True, "disabled": False, "masked": False}
# is-enabled says whether a unit's [Install] links exist; shipyard says whether it starts at boot.
# They differ only where the links exist but pull nothing into the boot (seen after the presets):
NOT_STARTED_AT_BOOT = {
    "reboot.target": "its [Install] has only Alias=ctrl-alt-del.target: no target wants it",
    "systemd-networkd-wait-online.service": "WantedBy=network-online.target, which nothing on this tree pulls in",
}
DOCKER_SERVICE = """[Unit]
Description=Docker Application Container Engine
After=network-online.target docker.socket
Requires=docker.socket

[Service]
ExecStart=/usr/bin/dockerd -H fd://

[Install]
WantedBy=multi-user.target
"""
DOCKER_SOCKET = """[Unit]
Description=Docker Socket for the API

[Socket]
ListenStream=/run/docker.sock

[Install]
WantedBy=sockets.target
"""


def _debootstrap() -> str:
    path = shutil.which("debootstrap") or (DEBOOTSTRAP if os.path.exists(DEBOOTSTRAP) else None)
    if path is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap): the systemctl oracle tests need it")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root: the systemctl oracle tests run as root (CI does)")
    return path


@pytest.fixture(scope="session")
def debian_tree() -> Path:
    """A minimal bookworm root with systemd, built once and cached (atomically: built aside, then renamed)."""
    debootstrap = _debootstrap()
    key = hashlib.sha256(" ".join((SUITE, MIRROR, *PACKAGES)).encode()).hexdigest()[:12]
    tree = CACHE / f"debootstrap-{SUITE}-{key}"
    if (tree / "usr/bin/systemctl").exists():
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE))
    command = [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(work / "root"), MIRROR]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    os.rename(work / "root", tree)
    shutil.rmtree(work, ignore_errors=True)
    return tree


@pytest.fixture
def variant(debian_tree: Path, tmp_path: Path) -> Path:
    """A hard-link copy of the tree: cheap; files are replaced (unlinked first), never written in place."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-al", str(debian_tree), str(root)], check=True)
    return root


def replace_file(root: Path, path: str, text: str | None) -> None:
    """Write (or with ``None`` remove) a file of a hard-link copy without touching the cached tree."""
    target = root / path.lstrip("/")
    if target.is_symlink() or target.exists():
        target.unlink()
    if text is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def systemctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "/usr/bin/systemctl", "--root=/", *args],
                          capture_output=True, text=True, check=False)


def is_enabled(root: Path, unit: str) -> str:
    out = systemctl(root, "is-enabled", unit).stdout.split()
    return out[-1] if out else "not-found"


def first_boot_copy(root: Path, tmp_path: Path) -> Path:
    """What systemd makes of ``root`` at its first boot: the presets applied (enable-only, as PID 1 does)."""
    booted = tmp_path / "booted"
    subprocess.run(["cp", "-al", str(root), str(booted)], check=True)
    replace_file(booted, "/etc/machine-id", REAL_ID)
    done = systemctl(booted, "preset-all", "--preset-mode=enable-only")
    assert done.returncode == 0, done.stderr
    return booted


def services(root: Path) -> ServiceFacts:
    return collect_services(DirectorySource(root))


def disagreements(facts: ServiceFacts, oracle_root: Path) -> tuple[list[str], int]:
    """Units whose enablement differs from the oracle's, and how many were compared."""
    wrong = []
    compared = 0
    for name, unit in sorted(facts.units.items()):
        if unit.alias_of or (unit.path or "").startswith("/etc/init.d/"):
            continue  # an alias is its unit's state; sysv scripts are answered by update-rc.d, not systemd
        state = is_enabled(oracle_root, name)
        if state not in DECIDED:
            continue
        compared += 1
        expected = DECIDED[state] and name not in NOT_STARTED_AT_BOOT
        if unit.enabled is not expected or (state == "masked") is not unit.masked:
            wrong.append(f"{name}: systemctl says {state}, shipyard says enabled={unit.enabled} ({unit.via})")
    return wrong, compared


def with_docker(root: Path, *, enabled: bool) -> None:
    replace_file(root, "/lib/systemd/system/docker.service", DOCKER_SERVICE)
    replace_file(root, "/lib/systemd/system/docker.socket", DOCKER_SOCKET)
    if enabled:
        for unit, target in (("docker.service", "multi-user.target"), ("docker.socket", "sockets.target")):
            link = root / f"etc/systemd/system/{target}.wants/{unit}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"/lib/systemd/system/{unit}")


@pytest.mark.parametrize("machine_id", [REAL_ID, ""], ids=["real-id", "empty"])
@pytest.mark.parametrize("docker", [None, True, False], ids=["no-docker", "docker-enabled", "docker-disabled"])
def test_not_first_boot_matches_is_enabled(variant: Path, machine_id: str, docker: bool | None) -> None:
    replace_file(variant, "/etc/machine-id", machine_id)
    if docker is not None:
        with_docker(variant, enabled=docker)
    facts = services(variant)
    assert facts.first_boot is False
    wrong, compared = disagreements(facts, variant)
    assert wrong == []
    assert compared >= 30
    if docker is not None:
        assert facts.is_enabled("docker.service") is docker
        assert is_enabled(variant, "docker.service") == ("enabled" if docker else "disabled")


@pytest.mark.parametrize("machine_id", [None, "uninitialized\n"], ids=["missing", "uninitialized"])
@pytest.mark.parametrize("docker_preset", [None, "disable docker.*\n", "enable docker.*\n"],
                         ids=["no-rule", "disable-rule", "enable-rule"])
def test_first_boot_matches_is_enabled_after_the_presets(
    variant: Path, tmp_path: Path, machine_id: str | None, docker_preset: str | None
) -> None:
    replace_file(variant, "/etc/machine-id", machine_id)
    with_docker(variant, enabled=False)
    if docker_preset is not None:
        replace_file(variant, "/etc/systemd/system-preset/50-docker.preset", docker_preset)
    facts = services(variant)
    assert facts.first_boot is True
    booted = first_boot_copy(variant, tmp_path)
    wrong, compared = disagreements(facts, booted)
    assert wrong == []
    assert compared >= 30
    assert facts.is_enabled("docker.service") is (docker_preset != "disable docker.*\n")


def test_an_empty_machine_id_keeps_disabled_units_disabled(variant: Path) -> None:
    """The generalised-image case: systemd-networkd is disabled, its preset says enable."""
    replace_file(variant, "/etc/machine-id", "")
    with_docker(variant, enabled=False)
    assert is_enabled(variant, "systemd-networkd.service") == "disabled"
    facts = services(variant)
    assert (facts.unit("systemd-networkd.service").enabled, facts.unit("systemd-networkd.service").via) == (
        False, "disabled")
    assert facts.is_enabled("docker.service") is False  # docker.enabled fails, not unknown


def test_docker_enabled_rule_on_a_generalised_image(variant: Path) -> None:
    from shipyard.facts import collect_facts
    from shipyard.results import Status
    from shipyard.rules.context import PoolContext
    from shipyard.rules.engine import evaluate_rule
    from shipyard.facts.evidence import Evidence
    from shipyard.rules.registry import RULES

    replace_file(variant, "/etc/machine-id", "")
    with_docker(variant, enabled=False)
    rule = next(r for r in RULES if r.id == "docker.enabled")
    [result] = evaluate_rule(rule, Evidence(facts=collect_facts(DirectorySource(variant))), PoolContext())
    assert (result.status, result.message) == (Status.FAIL, "docker is installed but not enabled: it will not start on boot")
