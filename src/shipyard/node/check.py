"""`node check`: the rule set on a live node: facts from its root plus runtime probes."""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.rules.context import PoolContext
from shipyard.rules.evidence import Evidence
from shipyard.rules.registry import evaluate_rules
from shipyard.rules.result import CheckResult
from shipyard.sources import DirectorySource


def gather_node_evidence(root: str | Path = "/") -> Evidence:
    """Facts and probes for the system rooted at ``root`` (``/`` on a node; a tree in tests)."""
    from shipyard.facts import collect_facts
    from shipyard.node.probes import probe_runtime

    source = DirectorySource(root)
    live = os.path.realpath(root) == "/"
    return Evidence(facts=collect_facts(source), probes=probe_runtime(source, live=live))


def check_node(root: str | Path, pool: PoolContext, *, skip: tuple[str, ...] = ()) -> list[CheckResult]:
    return evaluate_rules(gather_node_evidence(root), pool, skip=skip)
