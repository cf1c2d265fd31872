"""SSH server rules: installed, started on boot, listening on port 22."""

from __future__ import annotations

from shipyard.results import Outcome, Severity
from shipyard.rules.base import Rule, binary_state, boot_outcome, linux_only
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence

SSH_UNITS = ("ssh.service", "sshd.service", "ssh.socket", "sshd.socket")


def _installed(evidence: Evidence, pool: PoolContext) -> Outcome:
    found, path = binary_state(evidence, "sshd")
    if found:
        return Outcome.ok(f"sshd found at {path}")
    if found is False:
        return Outcome.bad("no sshd on the standard paths")
    return Outcome.unknown("could not read the image's binaries")


def _enabled(evidence: Evidence, pool: PoolContext) -> Outcome:
    services = evidence.facts.services
    if services is None:
        return Outcome.unknown("could not read the systemd units")
    if not services.is_present(*SSH_UNITS):
        return Outcome.bad("no ssh.service or sshd.service unit")
    if services.is_masked("ssh.service", "sshd.service") and not services.is_enabled("ssh.socket", "sshd.socket"):
        return Outcome.bad("the ssh service is masked")
    return boot_outcome(services.is_enabled(*SSH_UNITS), "the SSH server")


def _port(evidence: Evidence, pool: PoolContext) -> Outcome:
    probes = evidence.probes
    if probes is not None and probes.listening_tcp_ports is not None:
        if 22 in probes.listening_tcp_ports:
            return Outcome.ok("a process listens on TCP 22")
        return Outcome.bad("nothing listens on TCP 22")
    sshd = evidence.facts.sshd
    if sshd is None:
        return Outcome.unknown("could not read sshd_config")
    ports = sshd.listen_ports()
    if sshd.listens_on(22):
        return Outcome.ok(f"sshd listens on port {', '.join(map(str, ports))}")
    return Outcome.bad(f"sshd listens on port {', '.join(map(str, ports))}, not 22 ({', '.join(sshd.files)})")


RULES = (
    Rule(
        "ssh.installed", Severity.ERROR, "an SSH server installed",
        "install openssh-server in the image", _installed, linux_only,
    ),
    Rule(
        "ssh.enabled", Severity.ERROR, "the SSH server starts on boot",
        "systemctl enable ssh.service (sshd.service on RHEL-family images)", _enabled, linux_only,
    ),
    Rule(
        "ssh.port", Severity.ERROR, "sshd listens on port 22",
        "set Port 22 (or remove Port/ListenAddress overrides) in /etc/ssh/sshd_config", _port, linux_only,
    ),
)
