"""OS identification and binaries on the standard path."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.trees import link, remove, write_executables, write_files

from shipyard.facts.collectors.common import collect_binaries, collect_os, parse_env_file
from shipyard.sources.directory import DirectorySource


def test_os_release_from_ubuntu_tree(ubuntu_root: Path) -> None:
    facts = collect_os(DirectorySource(ubuntu_root))
    assert (facts.id, facts.version_id, facts.version_codename, facts.family) == ("ubuntu", "22.04", "jammy", "debian")
    assert facts.name == "Ubuntu 22.04.4 LTS"
    assert facts.source_file == "/etc/os-release"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"/etc/lsb-release": "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\nDISTRIB_CODENAME=focal\n"},
         ("ubuntu", "20.04", "focal", "debian", "/etc/lsb-release")),
        ({"/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n"},
         ("centos", "7", "Core", "rhel", "/etc/redhat-release")),
        ({"/etc/redhat-release": "AlmaLinux release 9.3 (Shamrock Pampas Cat)\n"},
         ("almalinux", "9.3", "Shamrock Pampas Cat", "rhel", "/etc/redhat-release")),
        ({"/etc/debian_version": "12.5\n"}, ("debian", "12", None, "debian", "/etc/debian_version")),
        ({"/etc/debian_version": "trixie/sid\n"}, ("debian", None, "trixie", "debian", "/etc/debian_version")),
        ({"/usr/lib/os-release": 'ID="mariner"\nVERSION_ID="2.0"\n'}, ("mariner", "2.0", None, "mariner", "/usr/lib/os-release")),
        ({"/etc/os-release": "ID=opensuse-leap\nVERSION_ID=15.5\n"}, ("opensuse-leap", "15.5", None, "suse", "/etc/os-release")),
        ({"/etc/os-release": "ID=plan9\nID_LIKE='rhel fedora'\n"}, ("plan9", None, None, "rhel", "/etc/os-release")),
        ({"/Windows/System32/config/SOFTWARE": b"regf"}, ("windows", None, None, "windows", "/Windows/System32/config/SOFTWARE")),
    ],
)
def test_os_fallbacks(tmp_path: Path, files: dict, expected: tuple) -> None:
    facts = collect_os(DirectorySource(write_files(tmp_path, files)))
    assert (facts.id, facts.version_id, facts.version_codename, facts.family, facts.source_file) == expected


def test_os_release_without_id_falls_back_to_lsb_release(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/os-release": "NAME=x\n", "/etc/lsb-release": "DISTRIB_ID=Debian\nDISTRIB_RELEASE=11\n"})
    assert collect_os(DirectorySource(tmp_path)).id == "debian"


def test_no_os_files_is_unknown(tmp_path: Path) -> None:
    assert collect_os(DirectorySource(tmp_path)) is None


def test_env_file_quoting() -> None:
    values = parse_env_file("A=\"two words\"\nB='x'  # comment\n# C=3\nexport D=4\nbroken line\nE=\"unterminated\n")
    assert values == {"A": "two words", "B": "x", "D": "4", "E": "unterminated"}


def test_binaries_follow_usrmerge_and_skip_dangling_links(ubuntu_root: Path) -> None:
    facts = collect_binaries(DirectorySource(ubuntu_root))
    assert facts.path_of("docker") == "/usr/bin/docker"
    assert facts.path_of("sshd") == "/usr/sbin/sshd"
    assert facts.path_of("python3") == "/usr/bin/python3"  # a relative link to python3.10
    assert facts.has("nvidia-smi") is False  # a dangling link is not a binary
    assert facts.has("mount.cifs") is False
    assert facts.has("not-searched") is None


def test_binaries_on_split_usr_and_non_executable(tmp_path: Path) -> None:
    write_executables(tmp_path, "/sbin/mount.cifs", "/usr/local/bin/blobfuse", "/usr/bin/blobfuse")
    write_files(tmp_path, {"/usr/bin/gluster": "not executable"})
    facts = collect_binaries(DirectorySource(tmp_path))
    assert facts.path_of("mount.cifs") == "/sbin/mount.cifs"
    assert facts.path_of("blobfuse") == "/usr/local/bin/blobfuse"  # first on the path wins
    assert facts.has("gluster") is False


def test_binary_link_resolves_inside_root(tmp_path: Path) -> None:
    write_executables(tmp_path, "/opt/nvidia/bin/nvidia-smi")
    link(tmp_path, "/usr/bin/nvidia-smi", "/opt/nvidia/bin/nvidia-smi")
    assert collect_binaries(DirectorySource(tmp_path)).path_of("nvidia-smi") == "/usr/bin/nvidia-smi"
    remove(tmp_path, "/opt/nvidia")
    assert collect_binaries(DirectorySource(tmp_path)).has("nvidia-smi") is False
