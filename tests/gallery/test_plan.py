"""``shipyard.gallery.plan``: replicas from the pool's size, regions, tags within Azure's limits, version names."""

from __future__ import annotations

import datetime

import pytest

from shipyard.errors import UsageError
from shipyard.gallery.plan import (
    MAX_TAG_VALUE,
    MAX_TAGS,
    default_version,
    parse_version,
    provenance_tags,
    replica_count,
    target_regions,
)


@pytest.mark.parametrize(("nodes", "per", "cap", "expected"), [
    (0, 300, None, 1), (1, 300, None, 1), (300, 300, None, 1), (301, 300, None, 2), (600, 300, None, 2),
    (601, 300, None, 3), (1000, 500, None, 3),  # over 600 nodes: at least 3, whatever the ratio
    (3000, 300, None, 10), (3000, 300, 4, 4), (100, 20, None, 5),
])
def test_replica_count(nodes: int, per: int, cap: int | None, expected: int) -> None:
    assert replica_count(nodes, per, cap) == expected


def test_replica_count_refuses_a_ratio_below_one() -> None:
    with pytest.raises(UsageError):
        replica_count(10, 0)


def test_target_regions_start_with_the_batch_accounts() -> None:
    assert target_regions("West Europe", ["eastus", "westeurope", "East US", "northeurope"]) == [
        "westeurope", "eastus", "northeurope"]
    with pytest.raises(UsageError):
        target_regions("westeurope", ["east/us"])


def test_rule_ids_are_packed_within_256_characters_and_50_tags() -> None:
    rules = [f"rule.number_{i:04d}_with_a_long_name" for i in range(2000)]
    tags = provenance_tags({"shipyard_version": "0.1.0", "shipyard_source": "x" * 400}, rules)
    assert len(tags) == MAX_TAGS and all(len(v) <= MAX_TAG_VALUE for v in tags.values())
    assert tags["shipyard_source"] == "x" * 256
    values = [tags["shipyard_rules_passed"]] + [tags[f"shipyard_rules_passed_{i}"] for i in range(2, 49)]
    ids = ",".join(values).split(",")
    assert ids[-1].startswith("+")
    assert len(ids) - 1 + int(ids[-1][1:]) == len(rules)  # what did not fit is counted
    assert ids[:-1] == sorted(rules)[: len(ids) - 1]


def test_few_rule_ids_fit_one_tag() -> None:
    tags = provenance_tags({"shipyard_version": "0.1.0"}, ["b.two", "a.one", "a.one"])
    assert tags == {"shipyard_version": "0.1.0", "shipyard_rules_passed": "a.one,b.two"}


@pytest.mark.parametrize("text", ["1.2", "1.2.3.4", "a.b.c", "1.2.-3", "2147483648.0.0", ""])
def test_bad_versions_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match=r"MAJOR\.MINOR\.PATCH"):
        parse_version(text)


def test_versions() -> None:
    assert parse_version("2026.01203.01") == "2026.1203.1"
    assert default_version(datetime.date(2026, 12, 3)) == "2026.1203.1"
    assert default_version(datetime.date(2026, 1, 5), ["2026.105.1", "2026.105.2"]) == "2026.105.3"
