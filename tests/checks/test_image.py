"""Every row of the rule table again, on a real disk image built with `image build` from the tree.

The tree table (tests/rules/test_rules.py) proves each rule; this proves the offline path gives
the very same answer: VHD -> partition -> ext4 -> the same collectors -> the same rules.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures.trees import write_ubuntu_2204
from rules.test_rules import CASES, ctx
from shipyard.image.build import build_image
from shipyard.checks.image import check_image
from shipyard.results import Status


@pytest.fixture(scope="module")
def ubuntu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ubuntu_2204(tmp_path_factory.mktemp("tree") / "root")


# What only a disk can answer: a tree has no volumes for fstab's LABEL= to name, nor a partition
# table; the image has both (built MBR, no boot code: no generation it can boot as).
ON_A_DISK = {("boot.fstab", Status.UNKNOWN): Status.PASS, ("boot.generation", Status.SKIP): Status.UNKNOWN}


@pytest.mark.parametrize(("rule_id", "mutate", "pool", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_on_an_image(tmp_path: Path, ubuntu: Path, rule_id, mutate, pool, expected) -> None:
    root = tmp_path / "root"
    shutil.copytree(ubuntu, root, symlinks=True)
    mutate(root)
    image = build_image(root, tmp_path / "disk.vhd")
    results = {r.id: r for r in check_image(image, ctx(**pool))}
    expected = ON_A_DISK.get((rule_id, expected), expected)
    assert results[rule_id].status is expected, results[rule_id].message
    assert results["vhd.format"].status.value == "pass"
