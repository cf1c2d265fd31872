"""Rules about the image container and its operating system."""

from __future__ import annotations

from shipyard.catalog.node_agents import get_node_agent, node_agent_for
from shipyard.results import Outcome, Severity
from shipyard.rules.base import Evaluate, Rule
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence


def _offline_only(evidence: Evidence, pool: PoolContext) -> str | None:
    return None if evidence.image is not None else "not an image file (a root directory)"


def _format_rule(rule_id: str, passed: str) -> Evaluate:
    def evaluate(evidence: Evidence, pool: PoolContext) -> Outcome:
        image = evidence.image
        if image is None:  # _offline_only keeps root directories away; never reached
            return Outcome.unknown("not an image file")
        problems = image.problems_for(rule_id)
        if problems:
            return Outcome.bad("; ".join(p.message for p in problems))
        return Outcome.ok(passed.format(fmt=image.format))

    return evaluate


def _os_detected(evidence: Evidence, pool: PoolContext) -> Outcome:
    os_facts = evidence.facts.os
    if os_facts is None or not os_facts.id:
        return Outcome.bad("no operating system identified: /etc/os-release, /etc/lsb-release and /etc/redhat-release are missing or empty")
    name = os_facts.name or f"{os_facts.id} {os_facts.version_id or ''}".strip()
    return Outcome.ok(f"{name} (from {os_facts.source_file})")


def _needs_node_agent(evidence: Evidence, pool: PoolContext) -> str | None:
    return None if pool.node_agent else "no node_agent given (pool custom_image.node_agent or --node-agent)"


def _os_node_agent(evidence: Evidence, pool: PoolContext) -> Outcome:
    sku = get_node_agent(pool.node_agent or "")
    if sku is None:
        return Outcome.bad(f"node agent '{pool.node_agent}' is not a known node agent SKU id")
    os_facts = evidence.facts.os
    if os_facts is None or not os_facts.id:
        return Outcome.unknown(f"node agent {sku.id}: the image's distribution is unknown")
    found = f"{os_facts.id} {os_facts.version_id or '?'}"
    if sku.serves(os_facts.id, os_facts.version_id or ""):
        return Outcome.ok(f"node agent {sku.id} serves the image's {found}")
    best = node_agent_for(os_facts.id, os_facts.version_id or "")
    wanted = f"; use '{best.id}'" if best else "; no node agent SKU serves this distribution"
    return Outcome.bad(f"node agent {sku.id} does not serve the image's {found}{wanted}")


RULES = (
    Rule(
        "vhd.format", Severity.ERROR, "a fixed VHD (dynamic VHD and VHDX are refused by Azure)",
        "convert it: shipyard image convert SRC DST.vhd", _format_rule("vhd.format", "{fmt}"), _offline_only,
    ),
    Rule(
        "vhd.alignment", Severity.ERROR, "virtual size a whole number of MiB",
        "convert it (rounds up to 1 MiB): shipyard image convert SRC DST.vhd",
        _format_rule("vhd.alignment", "virtual size is a whole number of MiB"), _offline_only,
    ),
    Rule(
        "vhd.footer", Severity.ERROR, "VHD footer cookie and checksum valid",
        "rewrite the footer: shipyard image convert SRC DST.vhd",
        _format_rule("vhd.footer", "footer cookie and checksum are valid"), _offline_only,
    ),
    Rule(
        "vhd.size", Severity.ERROR, "size within Azure's managed-disk upload and page-blob limits",
        "grow it: shipyard image convert SRC DST.vhd --size 20M; or rebuild it: shipyard image build ROOTFS DST.vhd --size SIZE",
        _format_rule("vhd.size", "size is within Azure's limits"), _offline_only,
    ),
    Rule(
        "os.detected", Severity.ERROR, "an operating system is identified",
        "keep /etc/os-release in the image (package base-files or *-release)", _os_detected,
    ),
    Rule(
        "os.node_agent", Severity.ERROR, "the pool's node_agent matches the image's distribution and version",
        "set custom_image.node_agent to the SKU `shipyard pool listskus` lists for this distribution",
        _os_node_agent, _needs_node_agent,
    ),
)
