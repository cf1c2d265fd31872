"""The one rule engine: runs a rule set over its subject (an image's or a node's evidence, or a
config set) and turns what each rule found into results."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from shipyard.redact import redact
from shipyard.results import CheckResult, Outcome, Severity, Status
from shipyard.rules.base import Rule
from shipyard.rules.context import PoolContext

S = TypeVar("S")

SKIP_CHECK = "--skip-check"  # the skip reason of a rule the command line skipped


def evaluate_rule(rule: Rule[S], subject: S, pool: PoolContext) -> list[CheckResult]:
    """The results of one rule: ``skip`` when it does not apply, one per outcome it found (a
    pass when it found none), or one error that names it when it raises."""
    try:
        reason = rule.applies(subject, pool)
        if reason is not None:
            return [CheckResult.skipped(rule.id, rule.severity, reason, rule.fix)]
        found = rule.evaluate(subject, pool)
        outcomes = [found] if isinstance(found, Outcome) else list(found)
    except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
        message = redact(f"rule {rule.id} raised {type(exc).__name__}: {exc}")
        return [CheckResult.of(rule.id, Status.FAIL, Severity.ERROR, message, rule.fix)]
    if not outcomes:
        return [CheckResult.of(rule.id, Status.PASS, rule.severity, rule.requirement, rule.fix)]
    return [
        CheckResult.of(rule.id, outcome.status, rule.severity, outcome.message, rule.fix, outcome.location)
        for outcome in outcomes
    ]


def evaluate_rules(
    rules: Iterable[Rule[S]], subject: S, pool: PoolContext, *, skip: Iterable[str] = ()
) -> list[CheckResult]:
    """Every rule's results, in the rules' order. ``skip`` ids report ``skip`` (--skip-check)."""
    skipped = set(skip)
    results: list[CheckResult] = []
    for rule in rules:
        if rule.id in skipped:
            results.append(CheckResult.skipped(rule.id, rule.severity, SKIP_CHECK, rule.fix))
        else:
            results.extend(evaluate_rule(rule, subject, pool))
    return results
