"""Host rules: the software firewall and the ephemeral (resource) disk."""

from __future__ import annotations

import posixpath

from shipyard.results import Outcome, Severity, Status
from shipyard.rules.base import Rule, binary_state, linux_only
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence

BATCH_NODE_PORTS = (29876, 29877)
RESOURCE_MOUNTS = ("/mnt", "/mnt/resource")


def inbound_ports(pool: PoolContext) -> tuple[int, ...]:
    ports = BATCH_NODE_PORTS if pool.node_communication_mode == "classic" else ()
    return ports + ((22,) if pool.ssh else ())


def _applies_inbound(evidence: Evidence, pool: PoolContext) -> str | None:
    reason = linux_only(evidence, pool)
    if reason:
        return reason
    return None if inbound_ports(pool) else "simplified node communication and no SSH: no inbound port needed"


def _ports_outcome(verdicts: dict[int, bool | None], direction: str, kinds: str) -> Outcome:
    blocked = [p for p, v in verdicts.items() if v is False]
    unknown = [p for p, v in verdicts.items() if v is None]
    ports = ", ".join(map(str, verdicts))
    if blocked:
        return Outcome.bad(f"the firewall ({kinds}) blocks {direction} TCP {', '.join(map(str, blocked))}")
    if unknown:
        return Outcome.unknown(
            f"the firewall ({kinds}) rules for {direction} TCP {', '.join(map(str, unknown))} cannot be decided offline"
        )
    return Outcome.ok(f"{direction} TCP {ports} allowed ({kinds})")


def _kinds(evidence: Evidence) -> str:
    firewall = evidence.facts.firewall
    kinds = firewall.active_kinds() if firewall is not None else []
    return ", ".join(kinds) if kinds else "no firewall enabled"


def _inbound(evidence: Evidence, pool: PoolContext) -> Outcome:
    firewall = evidence.facts.firewall
    if firewall is None:
        return Outcome.unknown("could not read the firewall configuration")
    verdicts = {port: firewall.allows_inbound_tcp(port) for port in inbound_ports(pool)}
    return _ports_outcome(verdicts, "inbound", _kinds(evidence))


def _outbound(evidence: Evidence, pool: PoolContext) -> Outcome:
    firewall = evidence.facts.firewall
    if firewall is None:
        return Outcome.unknown("could not read the firewall configuration")
    return _ports_outcome({443: firewall.allows_outbound_tcp(443)}, "outbound", _kinds(evidence))


def _resource_disk(evidence: Evidence) -> tuple[str | None, Outcome | None]:
    """Where the resource disk is mounted, or the outcome that says why that is not known."""
    waagent = evidence.facts.waagent
    if waagent is None or (not waagent.conf_present and waagent.cloud_init is None):
        return None, Outcome.unknown("neither /etc/waagent.conf nor cloud-init says where the resource disk is mounted")
    mount = waagent.resource_mount_point()
    if mount is None:
        return None, Outcome.bad("the resource disk is not mounted (ResourceDisk.Format=n and no cloud-init mount)")
    return posixpath.normpath(mount), None


def _resource_mount(evidence: Evidence, pool: PoolContext) -> Outcome:
    mount, problem = _resource_disk(evidence)
    if problem is not None or mount is None:
        return problem or Outcome.unknown("where the resource disk is mounted is not known")
    if mount not in RESOURCE_MOUNTS:
        return Outcome.bad(f"the resource disk is mounted at {mount}; it must stay at /mnt or /mnt/resource")
    probes = evidence.probes
    if probes is not None and probes.mounted_paths is not None and mount not in probes.mounted_paths:
        return Outcome.bad(f"waagent.conf says the resource disk is mounted at {mount}, but nothing is mounted there")
    return Outcome.ok(f"the resource disk is mounted at {mount}")


def _docker_present(evidence: Evidence, pool: PoolContext) -> str | None:
    reason = linux_only(evidence, pool)
    if reason:
        return reason
    installed, _ = binary_state(evidence, "dockerd")
    return "no docker engine (see docker.installed)" if installed is False else None


def _data_root(evidence: Evidence, pool: PoolContext) -> Outcome:
    docker = evidence.facts.docker
    if docker is None:
        return Outcome.unknown("could not read the docker configuration")
    mount, problem = _resource_disk(evidence)
    root = posixpath.normpath(docker.effective_data_root)
    where = "/etc/docker/daemon.json" if docker.data_root else "docker's default"
    if mount is None:
        if problem is not None and problem.status is Status.UNKNOWN:
            return Outcome.unknown(f"docker's data-root is {root} ({where}); where the resource disk is mounted is not known")
        return Outcome.bad(f"docker's data-root {root} ({where}) is on the OS disk: the resource disk is not mounted")
    if root == mount or root.startswith(mount + "/"):
        return Outcome.ok(f"docker's data-root {root} is on the resource disk ({mount})")
    return Outcome.bad(f"docker's data-root {root} ({where}) is on the OS disk, not on the resource disk at {mount}")


RULES = (
    Rule(
        "net.inbound", Severity.ERROR,
        "the software firewall allows inbound TCP 29876 and 29877 (classic node communication) and 22 (SSH)",
        "allow them, e.g. ufw allow 29876:29877/tcp && ufw allow 22/tcp, or disable the host firewall "
        "(Azure's network security group filters traffic)",
        _inbound, _applies_inbound,
    ),
    Rule(
        "net.outbound", Severity.ERROR, "the software firewall allows outbound TCP 443",
        "allow outbound 443, e.g. ufw allow out 443/tcp", _outbound, linux_only,
    ),
    Rule(
        "disk.resource_mount", Severity.ERROR,
        "ResourceDisk.MountPoint in waagent.conf left at /mnt or /mnt/resource",
        "restore ResourceDisk.MountPoint=/mnt (or /mnt/resource) in /etc/waagent.conf (ResourceDisk.Format=y), "
        "or leave cloud-init's ephemeral0 mount at /mnt",
        _resource_mount, linux_only,
    ),
    Rule(
        "docker.data_root", Severity.WARNING,
        "docker's data-root on the resource disk, so images and containers do not fill the OS disk",
        'set "data-root": "/mnt/docker" (under the resource disk\'s mount point) in /etc/docker/daemon.json',
        _data_root, _docker_present,
    ),
)
