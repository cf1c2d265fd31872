"""Provisioning rules: something provisions the VM on Azure, and the image is generalised."""

from __future__ import annotations

from shipyard.facts.boot import ProvisioningFacts
from shipyard.facts.evidence import Evidence
from shipyard.results import Outcome, Severity
from shipyard.rules.base import Rule, linux_only
from shipyard.rules.context import PoolContext


def _cloud_init(p: ProvisioningFacts, why: str) -> Outcome:
    """The outcome when cloud-init is the one that provisions."""
    if not p.cloud_init_installed:
        return Outcome.bad(f"{why}, but cloud-init is not installed: nothing provisions the VM (OSProvisioningTimedOut)")
    if p.cloud_init_enabled is False:
        how = f" ({p.cloud_init_disabled_by})" if p.cloud_init_disabled_by else ""
        return Outcome.bad(f"{why}, but cloud-init does not start on boot{how}")
    if p.datasources is not None and "Azure" not in p.datasources:
        files = ", ".join(p.datasource_files)
        return Outcome.bad(f"{why}, but cloud-init's datasource_list ({files}) is [{', '.join(p.datasources)}], without Azure")
    if p.cloud_init_enabled is None:
        return Outcome.unknown(f"{why}; whether cloud-init starts on boot cannot be decided offline")
    sources = "datasources " + ", ".join(p.datasources) if p.datasources is not None else "its default datasources"
    return Outcome.ok(f"cloud-init provisions ({why}; {p.cloud_init_path}, {sources})")


def _waagent(p: ProvisioningFacts, why: str) -> Outcome:
    if not p.waagent_installed:
        return Outcome.bad(f"{why}, but waagent is not installed")
    if p.waagent_enabled is False:
        return Outcome.bad(f"{why}, but its service ({p.waagent_unit or 'walinuxagent/waagent'}) does not start on boot")
    if p.waagent_enabled is None:
        return Outcome.unknown(f"{why}; whether waagent starts on boot cannot be decided offline")
    return Outcome.ok(f"waagent provisions ({why}; {p.waagent_path}, {p.waagent_unit})")


def _agent(evidence: Evidence, pool: PoolContext) -> Outcome:
    p = evidence.facts.provisioning
    if p is None:
        return Outcome.unknown("the provisioning agents could not be read")
    if not p.waagent_installed and not p.cloud_init_installed:
        return Outcome.bad("neither waagent nor cloud-init is installed: nothing provisions the VM (OSProvisioningTimedOut)")
    agent = (p.provisioning_agent or "auto").lower()
    if p.waagent_installed and agent == "cloud-init":
        return _cloud_init(p, "Provisioning.Agent=cloud-init")
    if p.waagent_installed and agent == "disabled":
        return _cloud_init(p, "Provisioning.Agent=disabled")
    if p.waagent_installed and agent == "waagent":
        return _waagent(p, "Provisioning.Agent=waagent")
    if p.cloud_init_installed and p.cloud_init_enabled is not False:
        why = "Provisioning.Agent=auto and cloud-init is enabled" if p.waagent_installed else "no waagent"
        return _cloud_init(p, why)
    if not p.waagent_installed:
        return _cloud_init(p, "no waagent")
    return _waagent(p, "Provisioning.Agent=auto and cloud-init is not enabled" if p.cloud_init_installed
                    else "Provisioning.Agent=auto and no cloud-init")


def _offline(evidence: Evidence, pool: PoolContext) -> str | None:
    reason = linux_only(evidence, pool)
    if reason:
        return reason
    return "a live node is provisioned: its machine id and host keys are its own" if evidence.probes is not None else None


def _generalized(evidence: Evidence, pool: PoolContext) -> Outcome:
    facts = evidence.facts.generalization
    if facts is None:
        return Outcome.unknown("the image's machine-specific files could not be read")
    if not facts.leftovers:
        return Outcome.ok("no machine id, SSH host keys, agent state, authorized keys or persistent network rules")
    return Outcome.bad("; ".join(f"{left.path}: {left.detail} (remove: {left.fix})" for left in facts.leftovers))


RULES = (
    Rule(
        "provision.agent", Severity.ERROR,
        "waagent or cloud-init is installed and enabled on boot, cloud-init's datasources include Azure, and "
        "Provisioning.Agent names an agent that is installed",
        "install and enable walinuxagent (WALinuxAgent) or cloud-init with datasource_list: [ Azure ]; set "
        "Provisioning.Agent in /etc/waagent.conf to an agent that is installed (auto picks cloud-init when it is enabled)",
        _agent, linux_only,
    ),
    Rule(
        "provision.generalized", Severity.WARNING,
        "no machine-specific leftovers: machine id, SSH host keys, waagent or cloud-init state, users' authorized keys, "
        "persistent network rules",
        "generalise the image last thing before capture: sudo waagent -deprovision+user -force (and cloud-init clean "
        "--logs --machine-id where cloud-init is installed)",
        _generalized, _offline,
    ),
)
