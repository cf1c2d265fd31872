"""collect_facts end to end: sections, unknown vs absent, failure isolation, cost."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pydantic
import pytest
from fixtures.trees import dpkg_stanza, enable_unit, write_files

from shipyard.facts import collect_facts
from shipyard.facts.model import Facts
from shipyard.sources.directory import DirectorySource

SECTIONS = ["os", "node_agent", "packages", "binaries", "services", "kernel_modules", "docker", "sshd", "waagent", "firewall",
            "boot", "disk", "mounts", "provisioning", "generalization"]


def test_ubuntu_facts(ubuntu_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shipyard.facts"):
        facts = collect_facts(DirectorySource(ubuntu_root))
    assert caplog.records == []
    assert facts.node_agent == "batch.node.ubuntu 22.04"
    assert facts.services.is_enabled("docker") and facts.docker.serves_default_socket()
    assert facts.kernel_modules.has_module("nvidia") and not facts.kernel_modules.is_blacklisted("nvidia")
    assert facts.firewall.allows_inbound_tcp(29877) is True
    dumped = json.loads(facts.model_dump_json())
    assert list(dumped) == SECTIONS  # the stable keys of `image inspect`, minus "format"


def test_rhel_facts(rhel_root: Path) -> None:
    facts = collect_facts(DirectorySource(rhel_root), strict=True)
    assert (facts.os.id, facts.node_agent) == ("rhel", "batch.node.el 9")
    assert facts.packages.version_of("openssh-server") == "8.7p1-34.el9"
    assert facts.services.is_enabled("sshd", "ssh") is True
    assert facts.binaries.has("docker") is False  # known absent
    assert facts.kernel_modules.kernels == ()  # no /lib/modules at all: known absent (gpu.driver decides)
    assert facts.waagent.resource_mount_point() == "/mnt/resource"


def test_empty_tree_is_mostly_unknown(tmp_path: Path) -> None:
    facts = collect_facts(DirectorySource(tmp_path), strict=True)
    assert facts.os is None and facts.node_agent is None and facts.packages is None
    assert facts.kernel_modules.kernels == ()  # read, and there is no kernel: absent, not unknown
    assert facts.firewall.allows_inbound_tcp(22) is True  # no firewall configured at all


def test_unknown_distribution_has_no_node_agent(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/os-release": "ID=gentoo\nVERSION_ID=2.14\n"})
    assert collect_facts(DirectorySource(tmp_path)).node_agent is None


def test_windows_image(tmp_path: Path) -> None:
    write_files(tmp_path, {"/Windows/System32/config/SOFTWARE": b"regf\x00"})
    facts = collect_facts(DirectorySource(tmp_path), strict=True)
    assert facts.os.family == "windows" and facts.node_agent == "batch.node.windows amd64"
    assert facts.packages is None and facts.services is None


def test_corrupt_input_leaves_one_section_unknown(ubuntu_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    (ubuntu_root / "var/lib/dpkg/status").unlink()
    write_files(ubuntu_root, {"/var/lib/rpm/rpmdb.sqlite": b"SQLite format 3\x00" + b"\x00" * 50})
    with caplog.at_level(logging.WARNING, logger="shipyard.facts"):
        facts = collect_facts(DirectorySource(ubuntu_root))
    assert facts.packages is None
    assert facts.services is not None and facts.os is not None
    assert [r.getMessage() for r in caplog.records] == ["could not collect packages facts; they stay unknown"]
    with pytest.raises(ValueError, match=r"^not an SQLite database$"):
        collect_facts(DirectorySource(ubuntu_root), strict=True)


def test_unreadable_file_leaves_section_unknown(ubuntu_root: Path) -> None:
    (ubuntu_root / "etc/ssh/sshd_config").unlink()
    (ubuntu_root / "etc/ssh/sshd_config").mkdir()  # reading a directory fails with an OSError
    assert collect_facts(DirectorySource(ubuntu_root)).sshd is None


def test_facts_are_frozen(ubuntu_root: Path) -> None:
    facts = collect_facts(DirectorySource(ubuntu_root))
    with pytest.raises(pydantic.ValidationError, match="Instance is frozen") as caught:
        facts.os = None  # type: ignore[misc]
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("frozen_instance", ("os",))]
    assert facts.os is not None
    assert Facts.model_validate(facts.model_dump()) == facts


class CountingSource(DirectorySource):
    """A DirectorySource that counts what collecting costs: content reads, lookups, listings."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: Counter[str] = Counter()
        self.bytes_read = 0
        self.lookups = 0
        self.listings: Counter[str] = Counter()

    def _read_content(self, node):
        data = super()._read_content(node)
        self.reads[str(node[0])] += 1
        self.bytes_read += len(data)
        return data

    def _lookup_node(self, physical_path: str):
        self.lookups += 1
        return super()._lookup_node(physical_path)

    def _list_names(self, node):
        self.listings[str(node[0])] += 1
        return super()._list_names(node)


def _collect_counted(root: Path) -> tuple[CountingSource, Facts]:
    source = CountingSource(root)
    return source, collect_facts(source, strict=True)


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_collect_is_cheap_on_a_realistic_tree(ubuntu_root: Path) -> None:
    """750 dpkg packages and 200 extra systemd units cost work in proportion, never per pair.

    Counted, not timed: each file is read at most twice and never more bytes than the tree
    holds; the extra units add at most one read and a few lookups each; no directory is listed
    more often because it holds more entries.
    """
    base, _ = _collect_counted(ubuntu_root)
    long_description = " a line of the package's long description that is there in every stanza\n" * 12
    status = "\n".join(dpkg_stanza(f"package-{i}", f"1.{i}-1ubuntu1") + long_description for i in range(750))
    files = {"/var/lib/dpkg/status": status}
    for i in range(200):
        files[f"/usr/lib/systemd/system/unit-{i}.service"] = (
            f"[Unit]\nDescription=unit {i}\nAfter=network.target\n\n[Service]\nExecStart=/usr/bin/u{i}\n"
            "\n[Install]\nWantedBy=multi-user.target\n"
        )
    write_files(ubuntu_root, files)
    for i in range(0, 200, 2):
        enable_unit(ubuntu_root, f"unit-{i}.service")
    added_entries = 200 + 100  # unit files, and the symlinks that enable half of them

    big, facts = _collect_counted(ubuntu_root)
    assert len(facts.packages.versions) == 750 and facts.services.is_enabled("unit-198") is True
    assert facts.services.is_enabled("unit-199") is False

    assert big.reads[str(ubuntu_root / "var/lib/dpkg/status")] == 1  # 750 packages: one read
    assert max(big.reads.values()) <= 2
    assert big.bytes_read <= 2 * _tree_bytes(ubuntu_root)
    assert sum(big.reads.values()) - sum(base.reads.values()) <= 200  # at most one read per new unit
    assert big.lookups - base.lookups <= 10 * added_entries  # linear: a few lookups per entry
    assert big.listings == base.listings  # more entries, not more listings
