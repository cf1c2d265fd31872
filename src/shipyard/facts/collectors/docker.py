"""Docker's configuration: ``/etc/docker/daemon.json``, the service's ``-H`` flags, the socket unit."""

from __future__ import annotations

import json
import logging
from typing import Any
import shlex

from shipyard.facts.collectors.common import list_matching
from shipyard.sources.base import read_optional
from shipyard.facts.collectors.systemd import UNIT_DIRS, parse_unit_file
from shipyard.facts.model import DockerFacts, ServiceFacts
from shipyard.sources.base import FileSource

log = logging.getLogger("shipyard.facts")

DAEMON_JSON = "/etc/docker/daemon.json"


def _unit_values(source: FileSource, unit_path: str | None, name: str, section: str, key: str) -> list[str]:
    """A key's values after drop-ins (``<dir>/<name>.d/*.conf``); an empty assignment resets."""
    texts = [read_optional(source, unit_path) or ""] if unit_path else []
    for directory in UNIT_DIRS:
        texts += [read_optional(source, p) or "" for p in list_matching(source, f"{directory}/{name}.d/*.conf")]
    values: list[str] = []
    for text in texts:
        # an empty "Key=" line resets what came before, within a file and across drop-ins
        lines = [ln.strip() for ln in text.splitlines()]
        if f"{key}=" in lines:
            values = []
        values += parse_unit_file(text).get(section, {}).get(key, [])
    return values


def parse_host_flags(command: str) -> list[str]:
    """The -H/--host values of a dockerd command line."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    hosts: list[str] = []
    for i, word in enumerate(words):
        if word in ("-H", "--host") and i + 1 < len(words):
            hosts.append(words[i + 1])
        elif word.startswith(("--host=", "-H=")):
            hosts.append(word.partition("=")[2])
        elif word.startswith("-H") and len(word) > 2 and not word.startswith("--"):
            hosts.append(word[2:])
    return hosts


def collect_docker(source: FileSource, services: ServiceFacts | None) -> DockerFacts:
    text = read_optional(source, DAEMON_JSON)
    config: dict[str, Any] = {}
    valid: bool | None = None
    if text is not None:
        try:
            loaded = json.loads(text) if text.strip() else {}
            valid = isinstance(loaded, dict)
            config = loaded if valid else {}
        except json.JSONDecodeError:
            log.info("%s is not valid JSON; dockerd will refuse to start", DAEMON_JSON)
            valid = False
    runtimes = config.get("runtimes")
    runtimes = runtimes if isinstance(runtimes, dict) else {}
    hosts = config.get("hosts")
    hosts = hosts if isinstance(hosts, list) else []
    data_root = config.get("data-root") or config.get("graph")

    service = services.unit("docker.service") if services else None
    socket = services.unit("docker.socket") if services else None
    exec_start = _unit_values(source, service.path if service else None, "docker.service", "Service", "ExecStart")
    service_hosts = parse_host_flags(exec_start[-1]) if exec_start else []
    socket_path = socket.path if socket else None
    listen = _unit_values(source, socket_path, "docker.socket", "Socket", "ListenStream") if socket_path else []
    return DockerFacts(
        daemon_json_present=text is not None,
        daemon_json_valid=valid,
        data_root=data_root if isinstance(data_root, str) else None,
        runtimes={
            str(name): str(spec.get("path", "")) if isinstance(spec, dict) else "" for name, spec in runtimes.items()
        },
        default_runtime=config.get("default-runtime") if isinstance(config.get("default-runtime"), str) else None,
        hosts=tuple(str(h) for h in hosts),
        service_hosts=tuple(service_hosts),
        socket_unit=socket_path,
        socket_listen=tuple(listen),
    )
