"""dpkg status and rpmdb.sqlite readers."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from fixtures.rhel import RHEL_PACKAGES, write_real_rpmdb, write_synthetic_rpmdb
from fixtures.trees import dpkg_stanza, write_files

from shipyard.facts.collectors.packages import collect_packages, parse_dpkg_status, parse_rpm_header, read_rpmdb_sqlite
from shipyard.sources.directory import DirectorySource

EXPECTED_RHEL = {
    "openssh-server": "8.7p1-34.el9",
    "firewalld": "1.2.5-2.el9",
    "nfs-utils": "1:2.5.4-20.el9",
    "WALinuxAgent": "2.7.0.6-9.el9",
    "python3": "3.9.18-1.el9_3",
}


def test_dpkg_only_installed_packages(ubuntu_root: Path) -> None:
    facts = collect_packages(DirectorySource(ubuntu_root))
    assert facts.manager == "dpkg"
    assert facts.version_of("docker-ce") == "5:24.0.7-1~ubuntu.22.04~jammy"
    assert facts.has("openssh-server", "openssh-sshd")
    assert not facts.has("docker.io")  # config-files only: removed, not installed


@pytest.mark.parametrize("status", ["deinstall ok config-files", "install ok half-installed", "install ok unpacked",
                                    "purge ok not-installed", "install reinstreq half-installed"])
def test_dpkg_states_that_are_not_installed(status: str) -> None:
    assert parse_dpkg_status(dpkg_stanza("x", "1", status)) == {}


@pytest.mark.parametrize("status", ["install ok installed", "hold ok installed", "deinstall ok installed"])
def test_dpkg_states_that_are_installed(status: str) -> None:
    assert parse_dpkg_status(dpkg_stanza("x", "1", status)) == {"x": "1"}


def test_dpkg_multiarch_keeps_both() -> None:
    text = dpkg_stanza("libc6", "2.35") + "\n" + dpkg_stanza("libc6", "2.35", arch="i386")
    assert parse_dpkg_status(text) == {"libc6": "2.35", "libc6:i386": "2.35"}


def test_rpm_sqlite_synthetic(tmp_path: Path) -> None:
    write_synthetic_rpmdb(tmp_path / "var/lib/rpm/rpmdb.sqlite", [*RHEL_PACKAGES, ("gpg-pubkey", 0, "fd431d51", "4ae0493b", "")])
    facts = collect_packages(DirectorySource(tmp_path))
    assert (facts.manager, facts.source_file) == ("rpm", "/var/lib/rpm/rpmdb.sqlite")
    assert facts.versions == EXPECTED_RHEL  # gpg-pubkey rows are keys, not packages


@pytest.mark.skipif(not (shutil.which("rpm") and shutil.which("rpmbuild")),
                    reason="rpm and rpmbuild are needed to make a real rpmdb.sqlite (apt-get install rpm)")
def test_rpm_sqlite_made_by_rpm_itself(tmp_path: Path) -> None:
    assert write_real_rpmdb(tmp_path, RHEL_PACKAGES)
    data = (tmp_path / "var/lib/rpm/rpmdb.sqlite").read_bytes()
    assert data[18:20] == b"\x02\x02"  # rpm keeps it in WAL mode; the reader copes
    assert read_rpmdb_sqlite(data) == EXPECTED_RHEL


def test_rpm_berkeley_db_is_unknown(tmp_path: Path) -> None:
    write_files(tmp_path, {"/var/lib/rpm/Packages": b"\x00" * 4096})
    assert collect_packages(DirectorySource(tmp_path)) is None


def test_no_package_database_is_unknown(tmp_path: Path) -> None:
    assert collect_packages(DirectorySource(tmp_path)) is None


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, b"SQLite format 3\x00" + b"\xff" * 200])
def test_corrupt_rpmdb_raises(data: bytes) -> None:
    with pytest.raises((ValueError, sqlite3.DatabaseError)):
        read_rpmdb_sqlite(data)


@pytest.mark.parametrize("blob", [b"", b"\x00\x00\x00\x05\x00\x00\x00\x10", b"\x7f\xff\xff\xff\x00\x00\x00\x00"])
def test_corrupt_rpm_header_raises(blob: bytes) -> None:
    with pytest.raises(ValueError):
        parse_rpm_header(blob)
