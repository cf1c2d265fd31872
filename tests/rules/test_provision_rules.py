"""provision.agent and provision.generalized over the facts: a pass, a fail and an unknown case
each (the collectors are tested on Debian's real packages in tests/facts/test_provision.py)."""

from __future__ import annotations

import pytest

from shipyard.facts.boot import GeneralizationFacts, Leftover, ProvisioningFacts
from shipyard.facts.evidence import Evidence, RuntimeProbes
from shipyard.facts.model import Facts, OsFacts
from shipyard.results import Status
from shipyard.rules import provision
from shipyard.rules.context import PoolContext
from shipyard.rules.engine import evaluate_rule

RULES = {rule.id: rule for rule in provision.RULES}
BOTH = ProvisioningFacts(waagent_installed=True, waagent_path="/usr/sbin/waagent", waagent_enabled=True,
                         waagent_unit="walinuxagent.service", cloud_init_installed=True, cloud_init_path="/usr/bin/cloud-init",
                         cloud_init_enabled=True, datasources=("Azure",), datasource_files=("/etc/cloud/cloud.cfg.d/90_dpkg.cfg",),
                         provisioning_agent="auto")
WAAGENT_ONLY = BOTH.model_copy(update={"cloud_init_installed": False, "cloud_init_path": None, "cloud_init_enabled": False,
                                       "datasources": None, "datasource_files": ()})


def run(rule_id: str, probes: RuntimeProbes | None = None, **facts: object) -> tuple[Status, str]:
    values: dict[str, object] = {"os": OsFacts(id="debian", version_id="12", family="debian"), "provisioning": BOTH,
                                 "generalization": GeneralizationFacts(leftovers=())}
    values.update(facts)
    (result,) = evaluate_rule(RULES[rule_id], Evidence(facts=Facts.model_validate(values), probes=probes), PoolContext())
    return result.status, result.message


@pytest.mark.parametrize(("provisioning", "status", "words"), [
    (BOTH, Status.PASS, "cloud-init provisions (Provisioning.Agent=auto and cloud-init is enabled"),
    (WAAGENT_ONLY, Status.PASS, "waagent provisions (Provisioning.Agent=auto and no cloud-init"),
    (BOTH.model_copy(update={"waagent_installed": False, "waagent_path": None, "provisioning_agent": None}), Status.PASS,
     "cloud-init provisions (no waagent"),
    (WAAGENT_ONLY.model_copy(update={"provisioning_agent": "cloud-init"}), Status.FAIL,
     "Provisioning.Agent=cloud-init, but cloud-init is not installed"),
    (WAAGENT_ONLY.model_copy(update={"provisioning_agent": "disabled"}), Status.FAIL, "Provisioning.Agent=disabled, but cloud-init"),
    (WAAGENT_ONLY.model_copy(update={"waagent_enabled": False}), Status.FAIL, "does not start on boot"),
    (BOTH.model_copy(update={"datasources": ("NoCloud",)}), Status.FAIL, "is [NoCloud], without Azure"),
    (BOTH.model_copy(update={"cloud_init_enabled": False, "cloud_init_disabled_by": "/etc/cloud/cloud-init.disabled",
                             "provisioning_agent": "cloud-init"}), Status.FAIL, "(/etc/cloud/cloud-init.disabled)"),
    (WAAGENT_ONLY.model_copy(update={"waagent_installed": False}), Status.FAIL, "neither waagent nor cloud-init"),
    (WAAGENT_ONLY.model_copy(update={"waagent_enabled": None}), Status.UNKNOWN, "cannot be decided offline"),
    (None, Status.UNKNOWN, "could not be read"),
])
def test_provision_agent(provisioning: ProvisioningFacts | None, status: Status, words: str) -> None:
    found, message = run("provision.agent", provisioning=provisioning)
    assert found is status and words in message, message


def test_provision_generalized() -> None:
    leftover = Leftover(kind="machine-id", path="/etc/machine-id", detail="a machine id is set",
                        fix="cloud-init clean --logs --machine-id")
    assert run("provision.generalized")[0] is Status.PASS
    status, message = run("provision.generalized", generalization=GeneralizationFacts(leftovers=(leftover,)))
    assert status is Status.WARN and "/etc/machine-id: a machine id is set (remove: cloud-init clean" in message
    assert run("provision.generalized", generalization=None)[0] is Status.UNKNOWN
    status, message = run("provision.generalized", probes=RuntimeProbes(), generalization=GeneralizationFacts(leftovers=(leftover,)))
    assert status is Status.SKIP and "a live node is provisioned" in message
