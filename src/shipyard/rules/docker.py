"""Docker engine rules: installed, started on boot, and serving /var/run/docker.sock."""

from __future__ import annotations

from shipyard.results import Outcome, Severity
from shipyard.rules.base import Rule, binary_state, boot_outcome, linux_only
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence

DOCKER_PACKAGES = ("docker-ce", "docker.io", "moby-engine", "docker-engine", "docker")


def _installed(evidence: Evidence, pool: PoolContext) -> Outcome:
    probes = evidence.probes
    if probes is not None and probes.docker_responds:
        return Outcome.ok("the docker daemon answers on its socket")
    client, client_path = binary_state(evidence, "docker")
    daemon, daemon_path = binary_state(evidence, "dockerd")
    if client and daemon:
        return Outcome.ok(f"docker engine found: {client_path}, {daemon_path}")
    if client is False or daemon is False:
        missing = " and ".join(n for n, s in (("docker", client), ("dockerd", daemon)) if s is False)
        return Outcome.bad(f"no {missing} on the standard paths (/usr/bin, /usr/sbin, /usr/local/bin, ...)")
    return Outcome.unknown("could not read the image's binaries")


def _enabled(evidence: Evidence, pool: PoolContext) -> Outcome:
    services = evidence.facts.services
    if services is None:
        return Outcome.unknown("could not read the systemd units")
    if services.is_masked("docker.service"):
        return Outcome.bad("docker.service is masked")
    if not services.is_present("docker.service", "docker.socket"):
        return Outcome.bad("no docker.service unit")
    units = [u for u in (services.unit(n) for n in ("docker.service", "docker.socket")) if u is not None]
    # the "via" of the unit that starts it: an enabled docker.socket, not the disabled docker.service
    starts = next((u for u in units if u.enabled), None) or next(iter(units), None)
    return boot_outcome(services.is_enabled("docker.service", "docker.socket"), "docker", starts.via if starts else None)


def _socket(evidence: Evidence, pool: PoolContext) -> Outcome:
    probes = evidence.probes
    if probes is not None and probes.docker_socket is not None:
        if probes.docker_socket:
            return Outcome.ok("/var/run/docker.sock exists")
        return Outcome.bad("/var/run/docker.sock does not exist")
    docker = evidence.facts.docker
    installed, _ = binary_state(evidence, "dockerd")
    if installed is False:
        return Outcome.bad("no docker engine, so no /var/run/docker.sock")
    if docker is None:
        return Outcome.unknown("could not read the docker configuration")
    if docker.hosts_conflict:
        return Outcome.bad(
            "hosts are set both in /etc/docker/daemon.json and with -H in docker.service: dockerd refuses to start"
        )
    if docker.serves_default_socket():
        return Outcome.ok("dockerd will listen on unix:///var/run/docker.sock")
    listens = ", ".join(docker.hosts + docker.service_hosts)
    return Outcome.bad(f"dockerd listens only on {listens}, not unix:///var/run/docker.sock")


RULES = (
    Rule(
        "docker.installed", Severity.ERROR, "a Docker engine installed, invocable as root on the default path",
        "install docker-ce (or moby-engine/docker.io) in the image", _installed, linux_only,
    ),
    Rule(
        "docker.enabled", Severity.ERROR, "the docker service starts on boot",
        "systemctl enable docker.service (in the image build)", _enabled, linux_only,
    ),
    Rule(
        "docker.socket", Severity.ERROR, "/var/run/docker.sock will exist",
        'keep unix:///var/run/docker.sock in daemon.json "hosts" (or drop "hosts"), or enable docker.socket',
        _socket, linux_only,
    ),
)
