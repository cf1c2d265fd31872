"""The node agent catalogue: lookup by id, and by distribution."""

from __future__ import annotations

from datetime import date

import pytest

from shipyard.catalog.node_agents import (
    get_node_agent,
    is_windows_node_agent,
    load_catalogue,
    node_agent_for,
    node_agents_for,
)

REQUIRED_IDS = [
    "batch.node.ubuntu 16.04", "batch.node.ubuntu 18.04", "batch.node.ubuntu 20.04", "batch.node.ubuntu 22.04",
    "batch.node.ubuntu 24.04", "batch.node.el 8", "batch.node.el 9", "batch.node.centos 7", "batch.node.debian 8",
    "batch.node.debian 9", "batch.node.debian 10", "batch.node.opensuse 42.1", "batch.node.mariner 2.0",
    "batch.node.windows amd64",
]


def test_catalogue_is_well_formed() -> None:
    skus = load_catalogue()
    ids = [sku.id for sku in skus]
    assert len(ids) == len(set(ids))
    assert set(REQUIRED_IDS) <= set(ids)
    for sku in skus:
        assert sku.os_family in {"linux", "windows"} and sku.status in {"current", "retired"}
        assert sku.images and sku.match
    # current ids come first, so node_agent_for prefers them
    statuses = [sku.status for sku in skus]
    assert statuses == sorted(statuses, key=lambda s: s != "current")


@pytest.mark.parametrize(
    ("os_id", "version", "expected"),
    [
        ("ubuntu", "22.04", "batch.node.ubuntu 22.04"),
        ("ubuntu", "16.04", "batch.node.ubuntu 16.04"),
        ("rhel", "9.4", "batch.node.el 9"),
        ("almalinux", "8.10", "batch.node.el 8"),
        ("rocky", "9.3", "batch.node.el 9"),
        ("centos", "8", "batch.node.el 8"),  # current id preferred over batch.node.centos 8
        ("centos", "7", "batch.node.centos 7"),
        ("debian", "10", "batch.node.debian 10"),
        ("opensuse-leap", "42.1", "batch.node.opensuse 42.1"),
        ("sles", "12.1", "batch.node.opensuse 42.1"),
        ("mariner", "2.0", "batch.node.mariner 2.0"),
        ("windows", "10.0.20348", "batch.node.windows amd64"),
        ("ubuntu", "23.10", None),
        ("ubuntu", "22.040", None),
        ("arch", "rolling", None),
    ],
)
def test_node_agent_for(os_id: str, version: str, expected: str | None) -> None:
    sku = node_agent_for(os_id, version)
    assert (sku.id if sku else None) == expected


def test_all_matches_are_listed() -> None:
    assert [s.id for s in node_agents_for("centos", "8.5")] == ["batch.node.el 8", "batch.node.centos 8"]


def test_lookup_by_id_is_forgiving_about_case_and_spaces() -> None:
    assert get_node_agent("Batch.Node.Ubuntu  22.04").id == "batch.node.ubuntu 22.04"
    assert get_node_agent("batch.node.ubuntu 99.04") is None
    assert is_windows_node_agent("batch.node.windows amd64")
    assert not is_windows_node_agent("batch.node.el 9")


@pytest.mark.parametrize(
    ("sku_id", "day", "status"),
    [
        ("batch.node.ubuntu 20.04", date(2025, 5, 31), "current"),  # the last day of standard support
        ("batch.node.ubuntu 20.04", date(2025, 6, 1), "end of life"),
        ("batch.node.mariner 2.0", date(2025, 7, 31), "current"),
        ("batch.node.mariner 2.0", date(2025, 8, 1), "end of life"),
        ("batch.node.el 8", date(2026, 1, 1), "current"),
        ("batch.node.el 8", date(2029, 6, 1), "end of life"),
        ("batch.node.ubuntu 22.04", date(2026, 1, 1), "current"),
        ("batch.node.windows amd64", date(2040, 1, 1), "current"),  # no end of life in the catalogue
        ("batch.node.ubuntu 18.04", date(2020, 1, 1), "retired"),  # retired by Batch, whatever the date
    ],
)
def test_status_is_derived_from_the_distribution_end_of_life(sku_id: str, day: date, status: str) -> None:
    assert get_node_agent(sku_id).status_on(day) == status


def test_every_current_linux_distribution_past_its_end_has_a_date() -> None:
    for sku_id in ("batch.node.ubuntu 20.04", "batch.node.mariner 2.0", "batch.node.el 8", "batch.node.el 9"):
        assert get_node_agent(sku_id).end_of_life() is not None, sku_id
