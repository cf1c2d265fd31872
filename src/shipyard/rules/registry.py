"""The one explicit list of rules, and their evaluation."""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.redact import redact
from shipyard.rules import accelerators, docker, host, image, ssh, storage, vm
from shipyard.rules.base import Rule
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence
from shipyard.rules.result import CheckResult, Severity, Status

RULES: tuple[Rule, ...] = (
    *image.RULES,
    *docker.RULES,
    *ssh.RULES,
    *vm.RULES,
    *accelerators.RULES,
    *storage.RULES,
    *host.RULES,
)
RULE_IDS = tuple(rule.id for rule in RULES)


def evaluate_rule(rule: Rule, evidence: Evidence, pool: PoolContext) -> CheckResult:
    try:
        reason = rule.applies(evidence, pool)
        if reason is not None:
            return CheckResult.of(rule.id, Status.SKIP, rule.severity, f"skipped: {reason}", rule.fix)
        outcome = rule.evaluate(evidence, pool)
    except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
        message = redact(f"rule {rule.id} raised {type(exc).__name__}: {exc}")
        return CheckResult.of(rule.id, Status.FAIL, Severity.ERROR, message, rule.fix)
    return CheckResult.of(rule.id, outcome.status, rule.severity, outcome.message, rule.fix)


def evaluate_rules(
    evidence: Evidence, pool: PoolContext, *, skip: Iterable[str] = (), rules: Iterable[Rule] = RULES
) -> list[CheckResult]:
    """One result per rule, in registry order. ``skip`` ids report ``skip``."""
    skipped = set(skip)
    results = []
    for rule in rules:
        if rule.id in skipped:
            results.append(CheckResult.of(rule.id, Status.SKIP, rule.severity, "skipped: --skip-check", rule.fix))
        else:
            results.append(evaluate_rule(rule, evidence, pool))
    return results


def failed(results: Iterable[CheckResult], level: Severity = Severity.ERROR) -> bool:
    return any(result.fails_at(level) for result in results)
