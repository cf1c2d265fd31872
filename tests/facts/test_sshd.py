"""sshd_config Port/ListenAddress with Include followed."""

from __future__ import annotations

from pathlib import Path

from fixtures.trees import write_files

from shipyard.facts.collectors.sshd import collect_sshd
from shipyard.sources.directory import DirectorySource


def sshd_of(root: Path):
    return collect_sshd(DirectorySource(root))


def test_ubuntu_default_port(ubuntu_root: Path) -> None:
    facts = sshd_of(ubuntu_root)
    assert facts.config_present and facts.ports == (22,)
    assert facts.files == ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/50-cloud-init.conf")
    assert facts.listens_on(22)


def test_include_glob_in_order_and_port_accumulates(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {
        "/etc/ssh/sshd_config.d/60-port.conf": "Port=2222\n",
        "/etc/ssh/sshd_config.d/10-port.conf": "port 2200\n",
        "/etc/ssh/sshd_config.d/notes.txt": "Port 1\n",
    })
    facts = sshd_of(ubuntu_root)
    assert facts.ports == (2200, 2222)
    assert not facts.listens_on(22)


def test_relative_include_and_listen_address(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "/etc/ssh/sshd_config": "Include extra.conf\nPort 22\nListenAddress 10.0.0.4\nListenAddress [::1]:2022\n"
                                "Match User batch\n  Port 99\n",
        "/etc/ssh/extra.conf": "Include nested/*.conf\nListenAddress 0.0.0.0:2200\n",
        "/etc/ssh/nested/a.conf": "Port 2201\n",
    })
    facts = sshd_of(tmp_path)
    assert facts.files == ("/etc/ssh/sshd_config", "/etc/ssh/extra.conf", "/etc/ssh/nested/a.conf")
    assert facts.ports == (2201, 22)  # Port 99 sits in a Match block
    assert facts.listen_addresses == ("0.0.0.0:2200", "10.0.0.4", "[::1]:2022")
    assert facts.listen_ports() == (2200, 2201, 22, 2022)


def test_include_loop_terminates(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config\nPort 2222\n"})
    assert 2222 in sshd_of(tmp_path).ports


def test_no_config(tmp_path: Path) -> None:
    facts = sshd_of(tmp_path)
    assert facts.config_present is False and facts.ports == (22,)
