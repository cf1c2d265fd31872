"""daemon.json, the docker service's -H flags and the socket unit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.trees import remove, write_files

from shipyard.facts.collectors.docker import collect_docker, parse_host_flags
from shipyard.facts.collectors.systemd import collect_services
from shipyard.sources.directory import DirectorySource


def docker_of(root: Path):
    source = DirectorySource(root)
    return collect_docker(source, collect_services(source))


def test_ubuntu_docker(ubuntu_root: Path) -> None:
    facts = docker_of(ubuntu_root)
    assert facts.daemon_json_present and facts.daemon_json_valid
    assert facts.runtimes == {"nvidia": "nvidia-container-runtime"}
    assert facts.data_root is None and facts.effective_data_root == "/var/lib/docker"
    assert facts.service_hosts == ("fd://",)
    assert facts.socket_unit == "/usr/lib/systemd/system/docker.socket"
    assert facts.socket_listen == ("/run/docker.sock",)
    assert facts.serves_default_socket() is True


def test_daemon_json_settings(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/docker/daemon.json": json.dumps(
        {"graph": "/mnt/docker", "default-runtime": "nvidia", "hosts": ["tcp://0.0.0.0:2375"]})})
    facts = docker_of(ubuntu_root)
    assert facts.data_root == "/mnt/docker"
    assert facts.default_runtime == "nvidia"
    assert facts.hosts == ("tcp://0.0.0.0:2375",)
    assert facts.hosts_conflict is True  # -H fd:// on the command line too: dockerd refuses to start
    assert facts.serves_default_socket() is True  # via the socket unit


def test_drop_in_replaces_exec_start(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/systemd/system/docker.service.d/override.conf":
                              "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --host=tcp://127.0.0.1:2375\n"})
    remove(ubuntu_root, "/etc/docker/daemon.json")
    facts = docker_of(ubuntu_root)
    assert facts.daemon_json_present is False and facts.daemon_json_valid is None
    assert facts.service_hosts == ("tcp://127.0.0.1:2375",)
    assert facts.serves_default_socket() is False


def test_invalid_daemon_json(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/docker/daemon.json": "{ not json"})
    facts = docker_of(ubuntu_root)
    assert facts.daemon_json_present is True and facts.daemon_json_valid is False


def test_no_docker_at_all(tmp_path: Path) -> None:
    facts = docker_of(tmp_path)
    assert facts.daemon_json_present is False and facts.socket_unit is None
    assert facts.serves_default_socket() is True  # dockerd's default, should it be installed


@pytest.mark.parametrize(
    ("command", "hosts"),
    [("/usr/bin/dockerd -H fd:// --containerd=/run/c.sock", ["fd://"]),
     ("/usr/bin/dockerd -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375", ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]),
     ("/usr/bin/dockerd --host=fd://", ["fd://"]), ("/usr/bin/dockerd -Hfd://", ["fd://"]), ("/usr/bin/dockerd", [])],
)
def test_host_flags(command: str, hosts: list[str]) -> None:
    assert parse_host_flags(command) == hosts
